"""What the commands share: a parser that knows the chosen task's options."""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out of the way

from keras_rnn import tasks  # noqa: E402


def task_parser(description: str, argv) -> tuple[argparse.ArgumentParser, str | None]:
    """A parser with `--task`, and the chosen task's name (so `--task X --help` can list its options)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--task", choices=tasks.NAMES)
    known, _ = pre.parse_known_args(argv)
    parser = argparse.ArgumentParser(description=description)  # option help texts state their defaults
    parser.add_argument("--task", required=True, choices=tasks.NAMES, help="model family")
    return parser, known.task
