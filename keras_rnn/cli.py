"""The two command-line entry points (`train.py`, `export.py` are thin wrappers)."""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out of the way

from keras_rnn import config as config_lib, output_directory, report_errors, tasks  # noqa: E402


def _task_parser(description: str, argv) -> tuple[argparse.ArgumentParser, str | None]:
    """A parser that knows the chosen task's options, so `--task X --help` lists them."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--task", choices=tasks.NAMES)
    known, _ = pre.parse_known_args(argv)
    parser = argparse.ArgumentParser(description=description)  # option help texts state their defaults
    parser.add_argument("--task", required=True, choices=tasks.NAMES, help="model family")
    return parser, known.task


def train_main(argv=None) -> int:
    parser, task_name = _task_parser(
        "Train a model with model.fit. `--task NAME --help` lists that task's options.", argv)
    parser.add_argument("--run-dir", default=None,
                        help="where the run is written (default: runs/TASK/<timestamp>/; "
                             "an interrupted run with the same options is resumed)")
    parser.add_argument("--fresh", action="store_true", help="never resume: always start a new run")
    if task_name:
        config_lib.add_arguments(parser.add_argument_group(f"{task_name} options"),
                                 tasks.get(task_name).Config)
    args = parser.parse_args(argv)

    def run():
        from keras_rnn import training

        task = tasks.get(args.task)
        cfg = config_lib.from_args(task.Config, args)
        run_dir = training.prepare_run_dir(task.name, cfg, args.run_dir, fresh=args.fresh)
        try:
            metrics = training.train(task, cfg, run_dir)
        except KeyboardInterrupt:
            print(f"\nInterrupted. Re-run the same command to resume {run_dir} from its last finished epoch.",
                  file=sys.stderr)
            raise SystemExit(130)
        print("\nFinished:", ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                       for k, v in metrics.items()))
        print(f"Run directory: {run_dir}  (export it with: python export.py --task {task.name} --run-dir {run_dir})")

    return report_errors(run)


def export_main(argv=None) -> int:
    parser, _ = _task_parser("Export a finished run for TF Serving (SavedModel) and LiteRT.", argv)
    parser.add_argument("--run-dir", default=None, help="run to export (default: the latest run of the task)")
    parser.add_argument("--out", default="saved_models", help="export root (TF Serving model base)")
    parser.add_argument("--no-sample", action="store_true", help="skip the check call on the exported model")
    parser.add_argument("--xla", action="store_true",
                        help="also export XLA-compiled signatures (e.g. generate_xla); TF Serving runs "
                             "them only with --xla_cpu_compilation_enabled")
    args = parser.parse_args(argv)

    def run():
        from keras_rnn import training
        from keras_rnn.export import writer

        task = tasks.get(args.task)
        run_dir = training.finished_run(task.name, args.run_dir)
        out = output_directory(args.out, "--out")
        spec = task.serving(run_dir, xla=args.xla)
        written = writer.export(spec, out)
        print(f"\nExported {run_dir} as version {written['version']}:")
        print(f"  SavedModel (TF Serving): {written['savedmodel']}")
        for path in written["litert"]:
            print(f"  LiteRT:                  {path}")
        print(f"  LiteRT metadata:         {written['metadata']}")
        print(f"  TF Serving config:       {written['models_config']}")
        if spec.example and not args.no_sample:
            _print_example(written["savedmodel"], spec.example)

    return report_errors(run)


def rest_value(value):
    """A TF Serving REST value as TensorFlow takes it: {"b64": text} is base64-encoded bytes."""
    if isinstance(value, dict) and set(value) == {"b64"}:
        return base64.b64decode(value["b64"])
    return [rest_value(v) for v in value] if isinstance(value, list) else value


def _print_example(savedmodel: Path, body: dict) -> None:
    """Answer the spec's example REST body with the exported SavedModel, as TF Serving would."""
    import tensorflow as tf

    signature = tf.saved_model.load(str(savedmodel)).signatures[body["signature_name"]]
    outputs = signature(**{k: tf.constant(rest_value(v)) for k, v in body["inputs"].items()})
    request = json.dumps(body["inputs"])
    print(f"\nExample request to '{body['signature_name']}': {request[:300]}{' ...' if len(request) > 300 else ''}")
    for name, value in outputs.items():
        value = value.numpy()
        if value.dtype == object:
            value = [v.decode("utf-8", "replace") for v in value.ravel()]
            for v in value:
                print(f"--- {name} ---\n{v}")
        else:
            print(f"--- {name} --- {value if value.size <= 20 else f'{value.dtype} array of shape {value.shape}'}")
