"""Shared fixtures: a tiny generated corpus and one trained + exported char-LM run."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args, cwd=ROOT, check=True) -> subprocess.CompletedProcess:
    """Run `python train.py|export.py ...` as a user would, in a fresh process."""
    proc = subprocess.run(
        [sys.executable, *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        timeout=900,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{args} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc


CORPUS_WORDS = ["hello", "world", "the", "cat", "sat", "on", "mat", "éclair", "naïve", "rnn"]


def make_corpus(n_lines: int = 400, seed: int = 0) -> str:
    """A small, learnable, deterministic text: short 'sentences' over a tiny vocabulary."""
    rng = random.Random(seed)
    return "".join(
        " ".join(rng.choice(CORPUS_WORDS) for _ in range(rng.randint(3, 7))) + ".\n" for _ in range(n_lines)
    )


@pytest.fixture(scope="session")
def corpus_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "tiny.txt"
    path.write_text(make_corpus(), encoding="utf-8")
    return path


TRAIN_ARGS = [
    "--cell",
    "lstm",
    "--units",
    "48",
    "--layers",
    "2",
    "--embedding-dim",
    "16",
    "--seq-len",
    "32",
    "--batch-size",
    "16",
    "--epochs",
    "3",
    "--steps-per-epoch",
    "25",
    "--learning-rate",
    "0.01",
    "--sample-length",
    "40",
    "--seed",
    "1",
]


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, corpus_file) -> Path:
    run_dir = tmp_path_factory.mktemp("runs") / "charlm"
    run_cli("train.py", "--task", "charlm", "--text-file", corpus_file, "--run-dir", run_dir, *TRAIN_ARGS)
    return run_dir


@pytest.fixture(scope="session")
def exported(tmp_path_factory, trained_run) -> Path:
    out = tmp_path_factory.mktemp("saved_models")
    run_cli("export.py", "--task", "charlm", "--run-dir", trained_run, "--out", out, "--no-sample")
    return out
