"""Real SIGKILLs: a training killed in its first epoch, in the middle of the run, while writing
its checkpoint and while writing its final metrics, re-run each time with the same command,
ends equal to the uninterrupted run (so does one with --ema or --stateful, killed mid-epoch);
an export killed at random moments never leaves a version a server could load half-written."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from keras_rnn import runs
from tests.conftest import ROOT, run_cli

# `python train.py ARGS`, SIGKILLed (no cleanup of any kind) at a chosen point:
#   batch N: after the N-th training batch this process runs;
#   checkpoint: half-way through the first model file it saves (the truncated file is left);
#   metrics: half-way through writing metrics.json, the run's last file.
KILLED = r"""
import os, pathlib, runpy, signal, sys
import keras
point, at = sys.argv[1], int(sys.argv[2])
sys.argv = ["train.py", *sys.argv[3:]]
def die():
    os.kill(os.getpid(), signal.SIGKILL)
if point == "batch":
    seen = [0]
    batch_end = keras.callbacks.CallbackList.on_train_batch_end
    def counting(self, batch, logs=None):
        batch_end(self, batch, logs)
        seen[0] += 1
        if seen[0] == at:
            die()
    keras.callbacks.CallbackList.on_train_batch_end = counting
elif point == "checkpoint":
    save = keras.Model.save
    def half_saved(self, path, *args, **kwargs):
        save(self, path, *args, **kwargs)
        os.truncate(path, os.path.getsize(path) // 2)
        die()
    keras.Model.save = half_saved
elif point == "metrics":
    write_text = pathlib.Path.write_text
    def half_written(self, data, *args, **kwargs):
        if self.name.startswith("metrics.json"):
            write_text(self, data[: len(data) // 2], *args, **kwargs)
            die()
        return write_text(self, data, *args, **kwargs)
    pathlib.Path.write_text = half_written
runpy.run_path("train.py", run_name="__main__")
"""


def train_args(corpus_file, run_dir) -> list:
    return [
        "--task", "charlm", "--text-file", str(corpus_file), "--run-dir", str(run_dir),
        "--units", "16", "--layers", "1", "--seq-len", "16", "--batch-size", "8", "--epochs", "4",
        "--steps-per-epoch", "5", "--dropout", "0.3", "--sample-length", "10", "--seed", "3",
        "--learning-rate", "0.01",
    ]  # fmt: skip


def killed_training(args, point: str, at: int = 0) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", KILLED, point, str(at), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == -signal.SIGKILL, (point, proc.returncode, proc.stderr[-2000:])


def weights(run_dir) -> list:
    import keras

    return keras.saving.load_model(run_dir / runs.MODEL_FILE, compile=False).get_weights()


def test_training_killed_four_times_ends_equal_to_the_uninterrupted_run(tmp_path, corpus_file):
    straight = tmp_path / "straight"
    run_cli("train.py", *train_args(corpus_file, straight))
    run_dir = tmp_path / "run"
    args = train_args(corpus_file, run_dir)
    killed_training(args, "batch", 3)  # the first epoch, before any backup
    killed_training(args, "batch", 5 + 5 + 3)  # epoch 3 of 4, 3rd batch (nothing was backed up: from epoch 1)
    killed_training(args, "checkpoint")  # the next better epoch's model.keras, half-written
    assert not runs.is_finished(run_dir)
    refused = run_cli(
        "export.py", "--task", "charlm", "--run-dir", run_dir, "--out", tmp_path / "out", check=False
    )
    assert (
        refused.returncode == 2 and "error:" in refused.stderr and not (tmp_path / "out" / "charlm").exists()
    )
    killed_training(args, "metrics")  # after the last epoch, writing the run's last file
    assert not runs.is_finished(run_dir)
    run_cli("train.py", *args)  # the same command once more finishes the run

    assert (run_dir / "history.csv").read_text() == (straight / "history.csv").read_text()
    got, want = (json.loads((d / "metrics.json").read_text()) for d in (run_dir, straight))
    for key in ("epochs_run", "best_epoch", "best_val_loss"):
        assert got[key] == want[key], key
    for a, b in zip(weights(run_dir), weights(straight)):
        np.testing.assert_array_equal(a, b)


# Options whose state lives outside the model's weights and the optimizer's: the moving average
# is swapped into the model at each epoch's end (--ema), the carried state and the count of
# chunks read live in the layers' state variables and the ResetStates callback (--stateful; a
# 1,400-character corpus has 9 chunks per pass, so passes end mid-epoch).
RESUMED_OPTIONS = {"ema": ["--ema", "0.9"], "stateful": ["--stateful", "--max-chars", "1400"]}


@pytest.mark.parametrize("option", RESUMED_OPTIONS)
def test_a_killed_run_with_state_outside_the_weights_resumes_exactly(tmp_path, corpus_file, option):
    """Killed in its third epoch (two epochs backed up), re-run with the same command: the
    history, the checkpoint picked and its weights equal the uninterrupted run's."""
    straight = tmp_path / "straight"
    run_cli("train.py", *train_args(corpus_file, straight), *RESUMED_OPTIONS[option])
    run_dir = tmp_path / "run"
    args = [*train_args(corpus_file, run_dir), *RESUMED_OPTIONS[option]]
    killed_training(args, "batch", 5 + 5 + 3)
    run_cli("train.py", *args)

    assert (run_dir / "history.csv").read_text() == (straight / "history.csv").read_text()
    for a, b in zip(weights(run_dir), weights(straight)):
        np.testing.assert_array_equal(a, b)


def test_a_killed_classifier_resumes_exactly(tmp_path):
    """--task classify (Gaussian noise and dropout on): killed in its second epoch, re-run with
    the same command, its history and weights equal the uninterrupted run's."""
    import keras_rnn.layers  # noqa: F401  (registers the sequence layers model.keras holds)

    def args(run_dir) -> list:
        return ["--task", "classify", "--model", "rnn", "--run-dir", str(run_dir), "--generated", "60", "--units", "8",
                "--no-bidirectional", "--epochs", "3", "--batch-size", "16", "--seed", "2"]  # fmt: skip

    run_cli("train.py", *args(tmp_path / "straight"))
    killed_training(args(tmp_path / "run"), "batch", 4 + 2)  # 4 batches an epoch
    run_cli("train.py", *args(tmp_path / "run"))
    straight, resumed = ((tmp_path / name / "history.csv").read_text() for name in ("straight", "run"))
    assert resumed == straight
    for a, b in zip(weights(tmp_path / "run"), weights(tmp_path / "straight")):
        np.testing.assert_array_equal(a, b)


LOADABLE = r"""
import json, sys
sys.modules["keras"] = sys.modules["keras_rnn"] = None
import tensorflow as tf
print(json.dumps({path: sorted(tf.saved_model.load(path).signatures) for path in sys.argv[1:]}))
"""


def published_versions(out) -> dict:
    """Version directories a server would pick up: {"charlm": [...], "litert": [...]}."""
    found = {}
    for kind, parent in (("charlm", out / "charlm"), ("litert", out / "litert" / "charlm")):
        found[kind] = (
            sorted(int(p.name) for p in parent.iterdir() if p.name.isdigit()) if parent.exists() else []
        )
    return found


def test_export_killed_at_random_moments_leaves_no_partial_version(trained_run, tmp_path):
    """The first export's duration sets the range; three exports are SIGKILLed at seeded moments
    in it. Every version directory that exists afterwards is whole: the SavedModel loads with
    its signatures in TensorFlow alone, the LiteRT version has its model and metadata."""
    out = tmp_path / "out"
    command = [
        sys.executable,
        "export.py",
        "--task",
        "charlm",
        "--run-dir",
        str(trained_run),
        "--out",
        str(out),
    ]
    command.append("--no-sample")
    started = time.monotonic()
    run_cli(*command[1:])
    duration = time.monotonic() - started
    rng = random.Random(11)
    for _ in range(3):
        proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 1.0) * duration)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    run_cli(*command[1:])  # a later export is not blocked by the killed ones
    versions = published_versions(out)
    last = max(versions["charlm"])  # killed between its two renames, an export leaves a LiteRT version only
    assert versions["charlm"][0] == 1 and last == max(versions["litert"]) and last >= 2, versions
    paths = [str(out / "charlm" / str(version)) for version in versions["charlm"]]
    proc = subprocess.run(
        [sys.executable, "-c", LOADABLE, *paths], capture_output=True, text=True
    )  # TF alone
    assert proc.returncode == 0, proc.stderr[-1000:]
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert all("generate" in loaded[path] for path in paths), loaded
    for version in versions["litert"]:
        litert = out / "litert" / "charlm" / str(version)
        assert (litert / "charlm_step.tflite").stat().st_size and json.loads(
            (litert / "charlm.json").read_text()
        )
    assert 'name: "charlm"' in (out / "models.config").read_text()


def damaged_copy(run_dir, tmp_path, name: str, damage) -> object:
    """A copy of the finished run `run_dir` with its file `name` damaged: damage(bytes) -> bytes."""
    import shutil

    copy = tmp_path / f"damaged_{name}_{len(list(tmp_path.iterdir()))}"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("backup", "*.png"))
    (copy / name).write_bytes(damage((copy / name).read_bytes()))
    return copy


# A run file cut, overwritten or edited by hand -> what the error line says is wrong with it
DAMAGES = [
    ("model.keras", lambda data: data[: len(data) // 2], "ValueError"),
    ("model.keras", lambda data: b"", "ValueError"),
    ("config.json", lambda data: data[:-5], "JSONDecodeError"),
    ("config.json", lambda data: b"[" * 100_000 + b"]" * 100_000, "RecursionError"),
    (
        "config.json",
        lambda data: data.replace(b'"units": 48', b'"units": "many"'),
        "'units' is 'many', not a int",
    ),
    ("config.json", lambda data: b'["units"]', "not a JSON object"),
    ("vocab.json", lambda data: bytes(range(256)), "UnicodeDecodeError"),
    ("vocab.json", lambda data: b"{}", "missing entry 'chars'"),
]


@pytest.mark.parametrize("command", ["export.py", "predict.py"])
def test_a_damaged_run_directory_is_one_error_line_naming_the_file(trained_run, tmp_path, command, capsys):
    """export.py and predict.py on a finished run whose model.keras, config.json or vocab.json was
    cut, overwritten or edited: one `error:` line naming the file and what is wrong, exit code 2,
    nothing exported (in-process, as the console scripts call them; the first also as a command)."""
    from keras_rnn.commands import export, predict

    main = {"export.py": export.main, "predict.py": predict.main}[command]
    for number, (name, damage, message) in enumerate(DAMAGES):
        run_dir = damaged_copy(trained_run, tmp_path, name, damage)
        args = ["--task", "charlm", "--run-dir", str(run_dir), "--out", str(tmp_path / "out")]
        args = args if command == "export.py" else [*args[:4], "--num-chars", "5"]
        if number == 0:
            proc = run_cli(command, *args, check=False)
            code, stderr = proc.returncode, proc.stderr
        else:
            code, stderr = main(args), capsys.readouterr().err
        errors = [line for line in stderr.splitlines() if line.startswith("error: ")]  # TensorFlow logs aside
        assert code == 2 and len(errors) == 1 and stderr.strip().endswith(errors[0]), (name, stderr[-2000:])
        named = f"{run_dir / name} is damaged"
        assert "Traceback" not in stderr and named in errors[0] and message in errors[0], (message, errors)
    assert not (tmp_path / "out" / "charlm").exists()


@pytest.mark.parametrize(
    "option, message",
    [
        (["--temperature", "nan"], "a finite --temperature > 0"),
        (["--temperature", "inf"], "a finite --temperature > 0"),
        (["--prompt", os.fsdecode(b"\xff\xfe")], "--prompt is not UTF-8 text"),
    ],
    ids=["nan", "inf", "not-utf8"],
)
def test_predict_refuses_a_hostile_option_in_one_line(trained_run, option, message, capsys):
    from keras_rnn.commands import predict

    code = predict.main(["--task", "charlm", "--run-dir", str(trained_run), "--num-chars", "5", *option])
    captured = capsys.readouterr()
    assert code == 2 and len(captured.err.strip().splitlines()) == 1, captured.err
    assert captured.err.startswith("error: ") and message in captured.err and not captured.out, captured
