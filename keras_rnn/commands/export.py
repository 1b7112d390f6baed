"""`python export.py --task NAME` (console script `keras-rnn-export`): a finished run as a TF
Serving model version (SavedModel) and LiteRT models."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

from keras_rnn import output_directory, report_errors, tasks
from keras_rnn.commands.common import task_parser


def main(argv=None) -> int:
    parser, _ = task_parser("Export a finished run for TF Serving (SavedModel) and LiteRT.", argv)
    parser.add_argument(
        "--run-dir", default=None, help="run to export (default: the latest finished run of the task)"
    )
    parser.add_argument("--out", default="saved_models", help="export root (TF Serving model base)")
    parser.add_argument("--no-sample", action="store_true", help="skip the check call on the exported model")
    parser.add_argument(
        "--xla",
        action="store_true",
        help="also export XLA-compiled signatures (charlm: generate_xla); TF Serving runs "
        "them only with --xla_cpu_compilation_enabled",
    )
    args = parser.parse_args(argv)

    def run():
        from keras_rnn import runs
        from keras_rnn.export import writer

        task = tasks.get(args.task)
        task.check_export_options(xla=args.xla)
        run_dir = runs.finished_run(task.name, args.run_dir)
        out = output_directory(args.out, "--out")
        spec = task.serving(task.load(run_dir), xla=args.xla)
        written = writer.export(spec, out)
        print(f"\nExported {run_dir} as version {written['version']}:")
        print(f"  SavedModel (TF Serving): {written['savedmodel']}")
        for path in written["litert"]:
            print(f"  LiteRT:                  {path}")
        print(f"  LiteRT metadata:         {written['metadata']}")
        print(f"  TF Serving config:       {written['models_config']}")
        if spec.example and not args.no_sample:
            print_example(written["savedmodel"], spec.example)

    return report_errors(run)


def rest_value(value):
    """A TF Serving REST value as TensorFlow takes it: {"b64": text} is base64-encoded bytes."""
    if isinstance(value, dict) and set(value) == {"b64"}:
        return base64.b64decode(value["b64"])
    return [rest_value(v) for v in value] if isinstance(value, list) else value


def print_example(savedmodel: Path, body: dict) -> None:
    """Answer the spec's example REST body with the exported SavedModel, as TF Serving would."""
    import tensorflow as tf

    signature = tf.saved_model.load(str(savedmodel)).signatures[body["signature_name"]]
    outputs = signature(**{k: tf.constant(rest_value(v)) for k, v in body["inputs"].items()})
    request = json.dumps(body["inputs"])
    print(
        f"\nExample request to '{body['signature_name']}': {request[:300]}{' ...' if len(request) > 300 else ''}"
    )
    for name, value in outputs.items():
        value = value.numpy()
        if value.dtype == object:  # one line per row (a row of strings: joined by spaces)
            for row in value.reshape(len(value), -1) if value.ndim else [[value.item()]]:
                print(f"--- {name} ---\n{' '.join(v.decode('utf-8', 'replace') for v in row)}")
        else:
            shown = value if value.size <= 20 else f"{value.dtype} array of shape {value.shape}"
            print(f"--- {name} --- {shown}")


if __name__ == "__main__":
    sys.exit(main())
