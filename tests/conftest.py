"""Shared fixtures: a tiny generated corpus and one trained + exported char-LM run."""

from __future__ import annotations

import fcntl
import os
import random
import shutil
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


def built_once(tmp_path_factory, name: str, build) -> Path:
    """The directory `build(directory)` fills, made once per test session, whatever the number of
    pytest-xdist workers: the first worker to ask builds it under a file lock, the others wait for
    it and share it (the session's trained and exported models are read, never changed, by tests)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the session's directory above each worker's own
    directory = root / f"shared-{name}"
    with open(root / f"shared-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (directory / ".built").exists():
            shutil.rmtree(directory, ignore_errors=True)
            directory.mkdir()
            build(directory)
            (directory / ".built").touch()
    return directory


@pytest.fixture(scope="session")
def corpus_file(tmp_path_factory) -> Path:
    def build(directory):
        (directory / "tiny.txt").write_text(make_corpus(), encoding="utf-8")

    return built_once(tmp_path_factory, "corpus", build) / "tiny.txt"


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
    def build(root):
        run_cli(
            "train.py",
            "--task",
            "charlm",
            "--text-file",
            corpus_file,
            "--run-dir",
            root / "charlm",
            *TRAIN_ARGS,
        )

    return built_once(tmp_path_factory, "runs", build) / "charlm"


@pytest.fixture(scope="session")
def exported(tmp_path_factory, trained_run) -> Path:
    def build(out):
        run_cli("export.py", "--task", "charlm", "--run-dir", trained_run, "--out", out, "--no-sample")

    return built_once(tmp_path_factory, "saved_models", build)


# Each task's trained and exported model, once per test session: the task's own tests and the
# hostile-input sweep (tests/test_hostile.py) share them.
@pytest.fixture(scope="session")
def translate_run(tmp_path_factory) -> Path:
    from tests.test_translate import TRAIN_ARGS as TRANSLATE_ARGS
    from tests.test_translate import tiny_pairs_file

    def build(tmp):
        pairs = tiny_pairs_file(tmp / "pairs.tsv")
        run_cli(
            "train.py",
            "--task",
            "translate",
            "--pairs-file",
            pairs,
            "--run-dir",
            tmp / "run",
            *TRANSLATE_ARGS,
        )

    return built_once(tmp_path_factory, "translate", build) / "run"


@pytest.fixture(scope="session")
def translate_exported(translate_run, tmp_path_factory) -> tuple[Path, Path]:
    """(SavedModel version, LiteRT version) directories."""
    from keras_rnn.export import writer
    from keras_rnn.tasks import translate

    def build(out):
        writer.export(translate.TASK.serving(translate.TASK.load(translate_run)), out)

    out = built_once(tmp_path_factory, "translate_models", build)
    return out / "translate" / "1", out / "litert" / "translate" / "1"


def trained_and_exported(tmp_path_factory, task: str, train_args: list) -> tuple[Path, Path, Path]:
    """`train.py` then `export.py` of `task`, once per session: (run, SavedModel version, LiteRT
    version) directories."""

    def build(root):
        run_cli("train.py", "--task", task, "--run-dir", root / "run", *train_args)
        run_cli("export.py", "--task", task, "--run-dir", root / "run", "--out", root / "out", "--no-sample")

    root = built_once(tmp_path_factory, task, build)
    return root / "run", root / "out" / task / "1", root / "out" / "litert" / task / "1"


@pytest.fixture(scope="session")
def caption_exported(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(run, SavedModel version, LiteRT version) directories."""
    from tests.test_caption import TRAIN_ARGS as CAPTION_ARGS

    return trained_and_exported(tmp_path_factory, "caption", CAPTION_ARGS)


@pytest.fixture(scope="session")
def esn_exported(tmp_path_factory) -> Path:
    """A small float32 echo state network's SavedModel version directory."""
    from keras_rnn import runs, training
    from keras_rnn.export import writer
    from keras_rnn.tasks import esn
    from tests.test_esn import SMALL

    def build(root):
        cfg = esn.Config(**SMALL)
        run_dir = runs.prepare_run_dir("esn", cfg, str(root / "run"))
        training.train(esn.TASK, cfg, run_dir)
        writer.export(esn.TASK.serving(esn.TASK.load(run_dir)), root / "saved_models")

    return built_once(tmp_path_factory, "esn_session", build) / "saved_models" / "esn" / "1"


@pytest.fixture(scope="session")
def classify_exported(tmp_path_factory) -> tuple[Path, Path, Path]:
    """The generated-waveform classifier of tests/test_classify.py: (run, SavedModel version,
    LiteRT version) directories."""
    from tests.test_classify import TRAIN_ARGS as CLASSIFY_ARGS

    return trained_and_exported(tmp_path_factory, "classify", CLASSIFY_ARGS)


@pytest.fixture(scope="session")
def tag_exported(tmp_path_factory) -> tuple[Path, Path, Path, Path]:
    """The tiny punctuation tagger of tests/test_tag.py, trained and exported in this process:
    (CoNLL directory, run, SavedModel version, LiteRT version)."""
    from keras_rnn import runs, training
    from keras_rnn.data import punctuation
    from keras_rnn.export import writer
    from keras_rnn.tasks import tag
    from tests.test_tag import TRAIN_OPTIONS, tiny_text

    root = tmp_path_factory.mktemp("tag")
    (root / "text.txt").write_text(tiny_text(), encoding="utf-8")
    punctuation.make_files(root / "text.txt", root / "data", seed=0)
    files = {
        f"{s}_file": str(root / "data" / f"{n}.conll")
        for s, n in [("train", "train"), ("validation", "valid"), ("test", "test")]
    }
    cfg = tag.Config(**files, **TRAIN_OPTIONS)
    run_dir = runs.prepare_run_dir("tag", cfg, str(root / "run"))
    training.train(tag.TASK, cfg, run_dir)
    writer.export(tag.TASK.serving(tag.TASK.load(run_dir)), root / "out")
    return root / "data", run_dir, root / "out" / "tag" / "1", root / "out" / "litert" / "tag" / "1"
