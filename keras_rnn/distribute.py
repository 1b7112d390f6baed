"""tf.distribute for the one training path: which strategy, on which devices, and who writes.

- `--distribute none`: TensorFlow's default strategy (one device).
- `--distribute mirrored`: `MirroredStrategy` over every local GPU; without GPUs,
  `--cpu-devices N` splits the CPU into N logical devices, so the same code path runs (and
  is tested) on a CPU-only machine.
- `--distribute multiworker`: `MultiWorkerMirroredStrategy`, the cluster from `TF_CONFIG`.
  Only the chief writes the run directory; the other workers write to temporary directories
  that are removed when they finish.

`--batch-size` is the global batch: each step splits it across the replicas.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

from keras_rnn import UserError

STRATEGIES = ("none", "mirrored", "multiworker")


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


def cluster() -> dict:
    """TF_CONFIG, parsed, or a UserError saying what multiworker needs."""
    try:
        config = json.loads(os.environ.get("TF_CONFIG", ""))
        config["cluster"]["worker"], config["task"]["type"], config["task"]["index"]  # noqa: B018
    except (ValueError, KeyError, TypeError):
        raise UserError(
            '--distribute multiworker needs TF_CONFIG, e.g. {"cluster": {"worker": ["host1:12345", '
            '"host2:12345"]}, "task": {"type": "worker", "index": 0}} (docs/distribute.md)'
        ) from None
    return config


def make_strategy(cfg) -> tf.distribute.Strategy:
    if cfg.cpu_devices and cfg.distribute != "mirrored":
        raise UserError("--cpu-devices goes with --distribute mirrored")
    if cfg.distribute == "none":
        return tf.distribute.get_strategy()
    if cfg.distribute == "multiworker":
        cluster()
        return tf.distribute.MultiWorkerMirroredStrategy()
    if cfg.cpu_devices:
        split_cpu(cfg.cpu_devices)
        return tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(cfg.cpu_devices)])
    if not tf.config.list_physical_devices("GPU"):
        raise UserError(
            "--distribute mirrored: no GPU here; give --cpu-devices N to mirror over N logical CPU devices"
        )
    return tf.distribute.MirroredStrategy()


def describe(strategy: tf.distribute.Strategy) -> str:
    if strategy.num_replicas_in_sync == 1 and not isinstance(strategy, tf.distribute.MirroredStrategy):
        return ", ".join(d.name for d in tf.config.list_logical_devices("GPU")) or "CPU"
    devices = ", ".join(d.split("/", 3)[-1] for d in strategy.extended.worker_devices)
    return f"{strategy.num_replicas_in_sync} replicas ({type(strategy).__name__}: {devices})"


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run directory: always, except a non-chief worker of a cluster."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    task = cluster()["task"]
    has_chief = "chief" in cluster()["cluster"]
    return task["type"] == "chief" or (not has_chief and task["type"] == "worker" and task["index"] == 0)


def check(cfg, strategy: tf.distribute.Strategy) -> None:
    replicas = strategy.num_replicas_in_sync
    if replicas > 1 and cfg.batch_size % replicas:
        raise UserError(
            f"--batch-size {cfg.batch_size} is the global batch: it must split evenly across the "
            f"{replicas} replicas"
        )
    if replicas > 1 and getattr(cfg, "stateful", False):
        raise UserError(
            "--stateful carries each batch row's state to the next batch: not with --distribute "
            "(the replicas would each hold part of the rows)"
        )


def even_validation(validation, strategy: tf.distribute.Strategy):
    """Keras builds a distributed model's metrics from the first validation batch's replica parts
    and fails unless they are equal. With --batch-size a multiple of the replicas, only a
    validation set smaller than one batch splits unevenly: then every replica gets all of it
    (the batch repeated once per replica: the same means)."""
    replicas = strategy.num_replicas_in_sync
    if replicas == 1 or validation is None:
        return validation
    if len(tf.nest.flatten(next(iter(validation.take(1))))[0]) % replicas == 0:
        return validation

    def repeat(*batch):
        return tf.nest.map_structure(lambda t: tf.concat([t] * replicas, axis=0), batch)

    return validation.map(repeat)
