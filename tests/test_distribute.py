"""`--distribute`: tf.distribute through the one training path, tested on logical CPU devices."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import ROOT, run_cli
from test_translate import TRAIN_ARGS as TRANSLATE_ARGS
from test_translate import tiny_pairs_file

MIRRORED = ["--distribute", "mirrored", "--cpu-devices", "2"]


def history(run_dir) -> dict[str, list[float]]:
    with open(run_dir / "history.csv") as f:
        rows = list(csv.DictReader(f))
    return {k: [float(r[k]) for r in rows] for k in rows[0] if k != "epoch"}


def train_both(tmp_path, *args):
    """The same training on one device and mirrored over 2 logical CPU devices (same global batch)."""
    runs = {}
    for name, extra in (("one", []), ("mirrored", MIRRORED)):
        runs[name] = tmp_path / name
        run_cli("train.py", *args, "--run-dir", runs[name], *extra)
    return runs


def test_mirrored_char_lm_follows_the_one_device_loss_curve_and_exports(corpus_file, tmp_path):
    """Both read the same batches (orders depend on the seed and the pass only) and average the
    same gradients: the curves agree to float32 summation order (measured: equal to 1e-7)."""
    runs = train_both(
        tmp_path, "--task", "charlm", "--text-file", corpus_file, "--units", "32", "--layers", "1",
        "--embedding-dim", "8", "--seq-len", "20", "--batch-size", "16", "--epochs", "3",
        "--steps-per-epoch", "20", "--sample-length", "10",
    )  # fmt: skip
    one, mirrored = history(runs["one"]), history(runs["mirrored"])
    assert one["loss"][-1] < one["loss"][0] - 0.1  # it learns
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(mirrored[key], one[key], rtol=1e-5)
    out = tmp_path / "exported"
    run_cli("export.py", "--task", "charlm", "--run-dir", runs["mirrored"], "--out", out, "--no-sample")
    assert (out / "charlm" / "1" / "saved_model.pb").exists()


def test_mirrored_translator_follows_the_one_device_loss_curve(tmp_path):
    """Each replica averages its own real (unpadded) target tokens and the replicas' losses are
    averaged: the same as one device up to how the tokens split between the halves of a batch
    (measured: equal to 1e-6 on these batches); rtol 1e-3 leaves room for that, not for a
    doubled or halved loss."""
    pairs = tiny_pairs_file(tmp_path / "pairs.tsv")
    args = [*TRANSLATE_ARGS, "--epochs", "2", "--steps-per-epoch", "15", "--heatmaps", "0"]
    runs = train_both(
        tmp_path, "--task", "translate", "--pairs-file", pairs, "--validation-file", pairs, *args
    )
    one, mirrored = history(runs["one"]), history(runs["mirrored"])
    for key in ("loss", "val_loss", "val_masked_accuracy"):
        np.testing.assert_allclose(mirrored[key], one[key], rtol=1e-3)


def test_mirrored_echo_state_network_solves_the_same_readout(tmp_path):
    """The closed-form readout all-reduces XᵀX and XᵀY: the same weights as on one device."""
    import keras

    from keras_rnn.tasks import esn

    args = ["--units", "60", "--length", "1200", "--validation-length", "300", "--washout", "100"]
    runs = train_both(
        tmp_path, "--task", "esn", *args, "--window", "300", "--batch-size", "4", "--plot-steps", "50"
    )
    weights = {}
    for name, run_dir in runs.items():
        model = esn.TASK.load(run_dir).model
        weights[name] = keras.ops.convert_to_numpy(model.readout.kernel)
    np.testing.assert_allclose(weights["mirrored"], weights["one"], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(
        history(runs["mirrored"])["val_loss"], history(runs["one"])["val_loss"], rtol=1e-6
    )


@pytest.mark.parametrize(
    "model, options",
    [
        ("rnn", ["--generated", "60", "--units", "8", "--no-bidirectional", "--epochs", "2", "--noise", "0",
                 "--dropout", "0"]),
        ("esn", ["--generated", "61", "--reservoir-units", "30"]),
    ],
)  # fmt: skip
def test_mirrored_classifier_follows_the_one_device_run(tmp_path, model, options):
    """--task classify: the same batches (orders by seed and pass alone), the same averaged
    gradients (every batch splits evenly: 60 sequences in batches of 16; without noise and
    dropout, whose random draws split otherwise across replicas), or for the ESN the same ridge
    readout from the all-reduced XᵀX (61 sequences in one batch: unequal parts, summed)."""
    runs = train_both(tmp_path, "--task", "classify", "--model", model, "--batch-size", "16", *options)
    one, mirrored = history(runs["one"]), history(runs["mirrored"])
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(mirrored[key], one[key], rtol=1e-5)
    if model == "esn":
        from keras_rnn.tasks import classify

        kernels = [classify.TASK.load(runs[name]).model.get_layer("readout").kernel for name in runs]
        np.testing.assert_allclose(*map(np.asarray, kernels), rtol=1e-5, atol=1e-7)


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def start_workers(args: list, cluster: dict, temporary, indices=None) -> list[subprocess.Popen]:
    return [
        subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={
                **os.environ,
                "TF_CPP_MIN_LOG_LEVEL": "2",
                "TMPDIR": str(temporary),
                "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
            },
        )  # fmt: skip
        for index in (indices or range(len(cluster["worker"])))
    ]


def wait_for(workers: list[subprocess.Popen], timeout: float = 240) -> list[tuple[str, str]]:
    try:
        return [worker.communicate(timeout=timeout) for worker in workers]
    finally:
        for worker in workers:
            worker.kill()


def test_two_workers_train_like_one_device_resume_after_a_worker_is_killed_and_export(corpus_file, tmp_path):
    """MultiWorkerMirroredStrategy, 2 worker processes on 127.0.0.1 (free ports; every process
    must end by itself within the timeout). Worker 1 is killed (SIGKILL) once the first epoch
    is backed up: the chief stops with one `error:` line. The same two commands again resume
    from that epoch (worker 1 from the chief's backup, the same path on this host) and worker 0,
    the chief, finishes the one run: its loss curve equals one device's with the same global
    batch (float32 summation order: 1e-5), it exports, and no worker directory is left."""
    args = [
        "train.py", "--task", "charlm", "--text-file", str(corpus_file), "--units", "16", "--layers", "1",
        "--embedding-dim", "8", "--seq-len", "20", "--batch-size", "16", "--epochs", "3",
        "--steps-per-epoch", "100", "--sample-length", "10",
    ]  # fmt: skip
    run_cli(*args, "--run-dir", tmp_path / "one")
    args += ["--distribute", "multiworker", "--run-dir", str(tmp_path / "run")]
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    workers = start_workers(args, cluster, temporary)
    backup = tmp_path / "run" / "backup" / "training_metadata.json"
    deadline = time.monotonic() + 240
    while not backup.exists() and time.monotonic() < deadline and workers[0].poll() is None:
        time.sleep(0.05)
    workers[1].kill()
    (_, chief_error), _ = wait_for(workers)
    assert workers[0].returncode == 2 and "error: the cluster lost a worker" in chief_error, chief_error[
        -2000:
    ]
    assert json.loads(backup.read_text())["epoch"] < 3
    workers = start_workers(args, cluster, temporary)
    outputs = wait_for(workers)
    assert [worker.returncode for worker in workers] == [0, 0], [err[-2000:] for _, err in outputs]
    for out, err in outputs:
        assert f"Resuming the interrupted run in {tmp_path / 'run'}" in out, (out[-2000:], err[-2000:])
    assert "MultiWorkerMirroredStrategy: this is worker 0" in outputs[0][0]
    assert "the chief wrote the run directory" in outputs[1][0]
    assert (tmp_path / "run" / "metrics.json").exists()
    assert not [p for p in temporary.iterdir() if p.name.startswith("keras-rnn-worker-")]
    one, multi = history(tmp_path / "one"), history(tmp_path / "run")
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(multi[key], one[key], rtol=1e-5)
    out = tmp_path / "exported"
    run_cli("export.py", "--task", "charlm", "--run-dir", tmp_path / "run", "--out", out, "--no-sample")
    assert (out / "charlm" / "1" / "saved_model.pb").exists()


def test_a_worker_whose_cluster_never_starts_gives_up_in_one_line(corpus_file, tmp_path):
    """TensorFlow waits for every worker, deaf to SIGTERM: --cluster-timeout ends the wait (by
    SIGKILL, the only signal that ends it) with one `error:` line, and removes the run's files."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    args = ["train.py", "--task", "charlm", "--text-file", str(corpus_file), "--distribute", "multiworker",
            "--cluster-timeout", "3", "--run-dir", str(tmp_path / "run")]  # fmt: skip
    (lone,) = start_workers(args, cluster, tmp_path, indices=[0])  # worker 1 never starts
    ((_, err),) = wait_for([lone], timeout=120)
    assert lone.returncode == -9 and err.strip().splitlines()[-1].startswith(
        "error: the cluster's other workers"
    )
    assert not (tmp_path / "run").exists()


def test_a_wall_clock_budget_is_refused_across_workers(corpus_file, tmp_path):
    """Each worker's clock would stop it at another step: a one-worker cluster refuses it."""
    args = ["train.py", "--task", "charlm", "--text-file", str(corpus_file), "--distribute", "multiworker",
            "--max-minutes", "1", "--run-dir", str(tmp_path / "run")]  # fmt: skip
    (worker,) = start_workers(args, {"worker": [f"127.0.0.1:{free_ports(1)[0]}"]}, tmp_path)
    ((_, err),) = wait_for([worker], timeout=120)
    assert worker.returncode == 2 and err.strip().splitlines()[-1].startswith("error: --max-minutes with")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "tf_config",
    [
        "not json",
        '{"task": {"type": "worker", "index": 0}}',
        '{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 1}}',
    ],
)
def test_an_unusable_tf_config_is_refused(monkeypatch, tf_config):
    from keras_rnn import UserError, distribute, tasks

    monkeypatch.setenv("TF_CONFIG", tf_config)
    with pytest.raises(UserError, match="TF_CONFIG is not a cluster with this task in it"):
        distribute.is_chief(tasks.get("charlm").Config(distribute="multiworker"))


@pytest.mark.parametrize(
    "cluster, task, chief",
    [
        ({"worker": ["a:1", "b:1"]}, {"type": "worker", "index": 0}, True),
        ({"worker": ["a:1", "b:1"]}, {"type": "worker", "index": 1}, False),
        ({"chief": ["c:1"], "worker": ["a:1"]}, {"type": "worker", "index": 0}, False),
        ({"chief": ["c:1"], "worker": ["a:1"]}, {"type": "chief", "index": 0}, True),
    ],
)
def test_the_chief_is_the_chief_task_else_worker_0(monkeypatch, cluster, task, chief):
    from keras_rnn import distribute, tasks

    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": task}))
    assert distribute.is_chief(tasks.get("charlm").Config(distribute="multiworker")) is chief


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--cpu-devices", "2"], "--cpu-devices goes with --distribute mirrored"),
        (["--distribute", "mirrored"], "no GPU here; give --cpu-devices N"),
        ([*MIRRORED, "--batch-size", "15"], "must split evenly across the 2 replicas"),
        ([*MIRRORED, "--stateful"], "--stateful carries each batch row's state"),
        (["--distribute", "multiworker"], "--distribute multiworker needs TF_CONFIG"),
        ([*MIRRORED[:2], "--cpu-devices", "1"], "--cpu-devices must be between 2 and 64"),
    ],
)
def test_distribution_options_are_refused_in_one_line(corpus_file, tmp_path, extra, message):
    env_free = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    proc = subprocess.run(
        [sys.executable, "train.py", "--task", "charlm", "--text-file", str(corpus_file), "--run-dir",
         str(tmp_path / "run"), *extra],
        cwd=ROOT, capture_output=True, text=True, env={**env_free, "TF_CPP_MIN_LOG_LEVEL": "2"}, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1].startswith("error: "), proc.stderr[
        -1500:
    ]
    assert message in proc.stderr and not (tmp_path / "run").exists()


def test_the_options_that_keep_recurrent_layers_off_cudnn_are_named():
    """On a GPU, training warns about each option that makes a recurrent layer ineligible for
    cuDNN's fused kernels; the char-LM's and the translator's defaults have none."""
    from keras_rnn import distribute
    from keras_rnn.tasks import caption, charlm, translate

    assert distribute.cudnn_warnings(charlm.Config()) == distribute.cudnn_warnings(translate.Config()) == []
    notes = {
        "--cell rnn": charlm.Config(cell="rnn"),
        "--cell peephole-lstm": charlm.Config(cell="peephole-lstm"),
        "--no-gru-reset-after": charlm.Config(cell="gru", gru_reset_after=False),
        "--attention bahdanau": caption.Config(),
    }
    for option, cfg in notes.items():
        (note,) = distribute.cudnn_warnings(cfg)
        assert note.startswith(option), note


def test_mixed_float16_scales_the_loss_and_keeps_losses_and_logits_in_float32(corpus_file, tmp_path):
    """GPU precision, checked on the CPU: the recurrent layers compute in float16, the logits
    and the loss in float32, and the optimizer scales the loss (Keras' LossScaleOptimizer)."""
    import keras

    from keras_rnn import runs, training
    from keras_rnn.tasks import charlm

    cfg = charlm.Config(
        text_file=str(corpus_file), units=16, layers=1, embedding_dim=8, seq_len=20, batch_size=16,
        epochs=1, steps_per_epoch=3, sample_length=5, precision="mixed_float16",
    )  # fmt: skip
    seen = {}

    class Look(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen["optimizer"] = self.model.optimizer
            seen["rnn"] = self.model.get_layer("rnn_0").compute_dtype
            seen["logits"] = self.model.output.dtype

    run_dir = runs.prepare_run_dir("charlm", cfg, str(tmp_path / "run"))
    metrics = training.train(charlm.TASK, cfg, run_dir, extra_callbacks=[Look()])
    assert np.isfinite(metrics["best_val_loss"]) and keras.mixed_precision.global_policy().name == "float32"
    assert isinstance(seen["optimizer"], keras.optimizers.LossScaleOptimizer)
    assert seen["rnn"] == "float16" and seen["logits"] == "float32"
