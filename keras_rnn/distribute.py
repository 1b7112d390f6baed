"""tf.distribute for the one training path: which strategy, on which devices.

- `--distribute none`: TensorFlow's default strategy (one device).
- `--distribute mirrored`: `MirroredStrategy` over every local GPU; without GPUs,
  `--cpu-devices N` splits the CPU into N logical devices, so the same code path runs (and
  is tested) on a CPU-only machine.
- `--distribute multiworker` is refused for now: Keras 3's `model.fit` cannot reduce its logs
  under `MultiWorkerMirroredStrategy` (it reduces scalars along axis 0:
  tensorflow/tensorflow#72388, still so in Keras 3.15).

`--batch-size` is the global batch: each step splits it across the replicas.
"""

from __future__ import annotations

import tensorflow as tf

from keras_rnn import UserError


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


def make_strategy(cfg) -> tf.distribute.Strategy:
    if cfg.cpu_devices and cfg.distribute != "mirrored":
        raise UserError("--cpu-devices goes with --distribute mirrored")
    if cfg.distribute == "none":
        return tf.distribute.get_strategy()
    if cfg.distribute == "multiworker":
        raise UserError(
            "--distribute multiworker: Keras 3's model.fit cannot reduce its logs under "
            "MultiWorkerMirroredStrategy yet (tensorflow/tensorflow#72388); use mirrored on one machine"
        )
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


def build_before_fit(model, data, strategy: tf.distribute.Strategy) -> None:
    """Under a strategy, Keras' fit and evaluate first build the model's metrics from the MEAN of
    the first batch's replica parts (a reduction of the data itself), which fails for unequal
    parts (a validation set smaller than a batch: 3 examples on 2 replicas). Build
    them here from one plain batch, as Keras does without a strategy, and skip that step."""
    if isinstance(strategy, tf.distribute.MirroredStrategy):
        with strategy.scope():
            model._symbolic_build(data_batch=next(iter(data.take(1))))
        model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None


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
