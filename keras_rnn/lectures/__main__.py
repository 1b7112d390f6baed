"""`python -m keras_rnn.lectures list | NAME [--out DIR] [options]`."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from keras_rnn import UserError, output_directory, report_errors  # noqa: E402
from keras_rnn.lectures import EXPERIMENTS, load  # noqa: E402

# TensorFlow splits a reduction (a matmul, a sum) among its intra-op threads, one per core by
# default, and a different split adds in a different order: the trained numbers would depend on
# the student's core count. One thread and deterministic ops make them the same on any count.
THREADS = 1


def fix_threads() -> int:
    """Before any TensorFlow op runs: one intra-op thread, deterministic kernels. Returns the
    intra-op thread count in effect: a caller that ran TensorFlow before (main() called in-process)
    keeps its own (0: TensorFlow's default, one per core), and the JSON says so."""
    import tensorflow as tf

    with contextlib.suppress(RuntimeError):  # "cannot be modified after initialization"
        tf.config.threading.set_intra_op_parallelism_threads(THREADS)
    tf.config.experimental.enable_op_determinism()
    return tf.config.threading.get_intra_op_parallelism_threads()


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    names = ", ".join(["list", *EXPERIMENTS])
    if not argv or argv[0] in ("-h", "--help"):
        print(f"usage: python -m keras_rnn.lectures {{{names}}} [--out DIR] [options]\n\n{__doc__}")
        return 0 if argv else 2
    name = argv[0]

    def run():
        if name == "list":
            for key, (_, what) in EXPERIMENTS.items():
                print(f"{key:16} {what}")
            return
        if name not in EXPERIMENTS:
            raise UserError(f"unknown experiment {name!r}: choose one of {names}")
        module = load(name)
        parser = argparse.ArgumentParser(
            prog=f"python -m keras_rnn.lectures {name}", description=EXPERIMENTS[name][1]
        )
        parser.add_argument("--out", default=f"lectures/{name}", help="where NAME.json and the PNGs go")
        module.add_arguments(parser)
        args = parser.parse_args(argv[1:])
        out = output_directory(args.out, "--out")
        threads = fix_threads()
        numbers = module.run(args, out)
        settings = {key: value for key, value in vars(args).items() if key != "out"}  # defaults filled in
        results = {
            "lecture": name,
            "hyper_parameters": {**settings, **getattr(module, "FIXED", {})},
            "threads": {"intra_op": threads, "op_determinism": True},
            **numbers,
        }
        (out / f"{name}.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
        print(
            f"wrote {out / f'{name}.json'} and {', '.join(p.name for p in sorted(Path(out).glob('*.png')))}"
        )

    return report_errors(run)


if __name__ == "__main__":
    sys.exit(main())
