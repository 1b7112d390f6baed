"""`--distribute multiworker`: worker processes of one cluster on this host, their failures, and the
distribution options refused in one line (split from test_distribute.py, so the two files run
on both pytest workers at once)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import ROOT, run_cli
from test_distribute import MIRRORED, history


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
