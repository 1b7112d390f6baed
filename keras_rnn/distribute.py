"""tf.distribute for the one training path: which strategy, on which devices.

- `--distribute none`: TensorFlow's default strategy (one device).
- `--distribute mirrored`: `MirroredStrategy` over every local GPU; without GPUs,
  `--cpu-devices N` splits the CPU into N logical devices, so the same code path runs (and
  is tested) on a CPU-only machine.
- `--distribute multiworker`: `MultiWorkerMirroredStrategy` over the cluster in `TF_CONFIG`
  (every worker runs the same command). The chief (task type `chief`, else worker 0) writes
  the run directory; the other workers train in temporary directories that are removed when
  they end. Keras 3's `fit` reduces each scalar log along axis 0 under this strategy and
  fails (tensorflow/tensorflow#72388): the steps' scalar logs are handed to it as
  one-element vectors, whose mean over the workers is the scalar again.

`--batch-size` is the global batch: each step splits it across the replicas (of all workers).
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import sys
import tempfile
from pathlib import Path

import tensorflow as tf

from keras_rnn import UserError

WORKER_DIR_PREFIX = "keras-rnn-worker-"
# what a collective op raises when a peer is gone (killed, unreachable, timed out)
LOST_WORKER_ERRORS = (tf.errors.UnavailableError, tf.errors.AbortedError, tf.errors.DeadlineExceededError)


def split_cpu(devices: int) -> None:
    """Make the CPU `devices` logical devices; must run before TensorFlow starts its runtime."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    wanted = [tf.config.LogicalDeviceConfiguration()] * devices
    try:
        tf.config.set_logical_device_configuration(cpu, wanted)
    except RuntimeError:  # already initialised: fine if it already has that many
        if len(tf.config.list_logical_devices("CPU")) != devices:
            raise UserError(
                f"--cpu-devices {devices}: TensorFlow's devices were set up before; start a new process"
            ) from None


def make_strategy(cfg, on_timeout=lambda: None) -> tf.distribute.Strategy:
    if cfg.cpu_devices and cfg.distribute != "mirrored":
        raise UserError("--cpu-devices goes with --distribute mirrored")
    if cfg.distribute == "none":
        return tf.distribute.get_strategy()
    if cfg.distribute == "multiworker":
        tf_config()  # checked before TensorFlow reads it
        return multiworker_strategy(cfg.cluster_timeout, on_timeout)
    if cfg.cpu_devices:
        split_cpu(cfg.cpu_devices)
        return tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(cfg.cpu_devices)])
    if not tf.config.list_physical_devices("GPU"):
        raise UserError(
            "--distribute mirrored: no GPU here; give --cpu-devices N to mirror over N logical CPU devices"
        )
    return tf.distribute.MirroredStrategy()


def multiworker_strategy(timeout: float, on_timeout) -> tf.distribute.Strategy:
    """`MultiWorkerMirroredStrategy()` waits until every worker of the cluster has started,
    inside TensorFlow, holding the interpreter (no Python thread or signal handler runs) and deaf
    to Ctrl-C and SIGTERM. A watchdog process forked before it ends the wait after `timeout` s:
    it prints one `error:` line, kills this process and, once it is gone, runs `on_timeout`
    (the caller's clean-up)."""
    ready, joined = os.pipe()
    parent = os.getpid()
    watchdog = os.fork()
    if watchdog == 0:  # the watchdog: only the standard library from here on, and always _exit
        status = 0
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's (it cannot take it)
            os.close(joined)
            if not select.select([ready], [], [], timeout)[0]:
                workers = len(sum(tf_config()["cluster"].values(), []))
                print(
                    f"error: the cluster's other workers did not all start within --cluster-timeout "
                    f"{timeout:g} s (TF_CONFIG lists {workers} tasks): start the same command on "
                    "every worker (this process is killed: TensorFlow's wait cannot be interrupted)",
                    file=sys.stderr,
                    flush=True,
                )
                os.kill(parent, signal.SIGKILL)
                if select.select([ready], [], [], 30)[0]:  # the pipe's end: the parent is gone
                    on_timeout()
        except BaseException:
            status = 1
        finally:
            os._exit(status)
    os.close(ready)
    try:
        return tf.distribute.MultiWorkerMirroredStrategy()
    finally:
        os.close(joined)  # the watchdog reads the end of the pipe and ends
        os.waitpid(watchdog, 0)


def tf_config() -> dict:
    """The cluster and this process's task, from `TF_CONFIG` (checked: one `error:` line if unusable)."""
    text = os.environ.get("TF_CONFIG")
    example = '{"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", "index": 0}}'
    if not text:
        raise UserError(f"--distribute multiworker needs TF_CONFIG in the environment, e.g. {example}")
    try:
        config = json.loads(text)
        task_type, index = config["task"]["type"], int(config["task"]["index"])
        addresses = config["cluster"][task_type]
        if not 0 <= index < len(addresses):
            raise IndexError(index)
    except (ValueError, TypeError, KeyError, IndexError) as error:
        raise UserError(
            f"TF_CONFIG is not a cluster with this task in it ({error!r}): e.g. {example}"
        ) from None
    return config


def is_chief(cfg) -> bool:
    """Whether this process writes the run directory: always, but for the workers of
    `--distribute multiworker` other than the chief (task type `chief`, else worker 0)."""
    if cfg.distribute != "multiworker":
        return True
    config = tf_config()
    task = config["task"]
    if "chief" in config["cluster"]:
        return task["type"] == "chief"
    return task["type"] == "worker" and int(task["index"]) == 0


def worker_run_dir(cfg, chief_run_dir: Path | None) -> Path:
    """A temporary run directory for a worker that is not the chief (the caller removes it; the
    next worker to start on this machine removes those of workers that were killed).
    Where this worker sees the chief's unfinished run (`--run-dir` at the same path: a shared
    filesystem, as Keras' BackupAndRestore needs), it starts from that run's vocabulary and
    backup, so every worker resumes from the same epoch (`check_same_everywhere` makes sure)."""
    from keras_rnn import config as config_lib
    from keras_rnn import locks, runs

    for stale in Path(tempfile.gettempdir()).glob(f"{WORKER_DIR_PREFIX}*"):  # of killed workers
        try:
            if not (stale / locks.LOCK_FILE).exists():  # a starting worker's, not locked yet
                continue
            locks.hold(stale, "worker")
        except (UserError, OSError):  # a live worker's, or not ours to remove
            continue
        shutil.rmtree(stale, ignore_errors=True)
        locks.release(stale)
    directory = Path(tempfile.mkdtemp(prefix=WORKER_DIR_PREFIX))
    locks.hold(directory, "worker")  # unlocked only when its worker has ended
    config_lib.save(cfg, directory / runs.CONFIG_FILE)  # as the chief's: the tasks read it back
    if chief_run_dir and runs.has_started(chief_run_dir) and not runs.is_finished(chief_run_dir):
        print(f"Resuming the interrupted run in {chief_run_dir} (the chief's; this worker reads its backup)")
        for name in (runs.VOCAB_FILE, runs.BACKUP_DIR):
            source = Path(chief_run_dir) / name
            if source.is_dir():
                shutil.copytree(source, directory / name)
            elif source.exists():
                shutil.copy2(source, directory / name)
    return directory


def is_multiworker(strategy: tf.distribute.Strategy) -> bool:
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def check_same_everywhere(strategy: tf.distribute.Strategy, value: float, what: str) -> None:
    """Refuse (on every worker alike) when the workers hold different `value`s: the all-reduced
    count, sum and sum of squares say whether they all agree."""
    if not is_multiworker(strategy):
        return

    def moments():
        value_ = tf.constant(float(value), tf.float64)
        return tf.distribute.get_replica_context().all_reduce(
            "SUM", tf.stack([tf.constant(1.0, tf.float64), value_, value_ * value_])
        )

    count, total, squares = strategy.experimental_local_results(strategy.run(moments))[0].numpy()
    if count * squares != total * total:
        raise UserError(what)


def describe(strategy: tf.distribute.Strategy) -> str:
    if strategy.num_replicas_in_sync == 1 and not isinstance(strategy, tf.distribute.MirroredStrategy):
        return ", ".join(d.name for d in tf.config.list_logical_devices("GPU")) or "CPU"
    devices = ", ".join(d.split("/", 3)[-1] for d in strategy.extended.worker_devices)
    if is_multiworker(strategy):
        resolver = strategy.cluster_resolver
        return (
            f"{strategy.num_replicas_in_sync} replicas (MultiWorkerMirroredStrategy: this is "
            f"{resolver.task_type} {resolver.task_id}, on {devices.split('/', 1)[-1]})"
        )
    return f"{strategy.num_replicas_in_sync} replicas ({type(strategy).__name__}: {devices})"


def check(cfg, strategy: tf.distribute.Strategy) -> None:
    replicas = strategy.num_replicas_in_sync
    if replicas > 1 and cfg.batch_size % replicas:
        raise UserError(
            f"--batch-size {cfg.batch_size} is the global batch: it must split evenly across the "
            f"{replicas} replicas"
        )
    if is_multiworker(strategy) and cfg.max_minutes:
        raise UserError(
            "--max-minutes with --distribute multiworker: each worker's clock would stop it at "
            "another step (and anneal its learning rate differently); give --epochs instead"
        )
    if replicas > 1 and getattr(cfg, "stateful", False):
        raise UserError(
            "--stateful carries each batch row's state to the next batch: not with --distribute "
            "(the replicas would each hold part of the rows)"
        )


def build_before_fit(model, data, strategy: tf.distribute.Strategy) -> None:
    """Under a strategy, Keras' fit and evaluate first build the model's metrics from the MEAN of
    the first batch's replica parts (a reduction of the data itself), which fails for unequal
    parts (a validation set smaller than a batch: 3 examples on 2 replicas). Build
    them here from one plain batch, as Keras does without a strategy, and skip that step.
    Across workers, the steps' scalar logs go to Keras as one-element vectors (see above)."""
    if isinstance(strategy, tf.distribute.MirroredStrategy) or is_multiworker(strategy):
        with strategy.scope():
            model._symbolic_build(data_batch=next(iter(data.take(1))))
        model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None
    if is_multiworker(strategy):
        for name in ("train_step", "test_step"):
            setattr(model, name, _vector_logs(getattr(model, name)))


def _vector_logs(step):
    def step_with_vector_logs(data):
        logs = step(data)
        return {
            k: tf.reshape(v, [1]) if tf.is_tensor(v) and v.shape.rank == 0 else v for k, v in logs.items()
        }

    return step_with_vector_logs


def shard_by_data(data):
    """Every worker reads the same pipeline and keeps its share of each global batch (the
    datasets are built in memory, not from files: tf.data's auto-sharding by data, made explicit)."""
    if not isinstance(data, tf.data.Dataset):
        return data
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return data.with_options(options)


def cudnn_warnings(cfg) -> list[str]:
    """The options that keep a recurrent layer off cuDNN's fused kernels: on a GPU that layer
    runs its step-by-step loop instead, several times slower. The defaults of the char-LM and
    the encoders are cuDNN-eligible (tanh, sigmoid gates, no recurrent dropout, no unroll)."""
    from keras_rnn.layers.cells import LECTURE_CELLS

    cell, notes = getattr(cfg, "cell", None), []
    if cell == "rnn":
        notes.append("--cell rnn: Keras' SimpleRNN has no cuDNN kernel")
    elif cell in LECTURE_CELLS:
        notes.append(f"--cell {cell}: the lectures' cells run as keras.layers.RNN loops, not cuDNN")
    if cell == "gru" and not getattr(cfg, "gru_reset_after", True):
        notes.append("--no-gru-reset-after: cuDNN's GRU is the reset-after form")
    if getattr(cfg, "attention", None) in ("bahdanau", "luong"):
        notes.append(
            f"--attention {cfg.attention}: the decoder feeds each step's attention into the next, a "
            "loop cuDNN cannot fuse (--attention cross runs the decoder RNN over the whole target)"
        )
    return notes
