"""Configurations as dataclasses, turned into command-line options in one place.

Every task's config inherits `TrainConfig` (the options shared by all tasks) and
documents each field with `field(metadata={"help": ...})`; `add_arguments`
turns the fields into argparse options (`--steps-per-epoch` for
`steps_per_epoch`), so `--help` always lists every option with its default.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import get_args, get_origin, get_type_hints


def option(default, help: str, choices=None):
    """A dataclass field carrying its --help text (and allowed values)."""
    return dataclasses.field(default=default, metadata={"help": help, "choices": choices})


@dataclasses.dataclass
class TrainConfig:
    """Options every task shares (the command-line contract)."""

    epochs: int = option(10, "passes over the training data (or of --steps-per-epoch batches)")
    steps_per_epoch: int | None = option(None, "batches per epoch (default: one pass over the data)")
    batch_size: int = option(64, "examples per batch")
    seed: int = option(0, "random seed (data order, initialisation, sampling)")
    optimizer: str = option("adam", "optimizer", choices=["adam", "rmsprop", "sgd", "adagrad"])
    learning_rate: float = option(2e-3, "learning rate")
    clipnorm: float = option(5.0, "clip each gradient to this L2 norm (0 = off)")
    clipvalue: float = option(0.0, "clip each gradient element to [-v, v]; replaces --clipnorm (0 = off)")
    patience: int = option(
        5, "early stopping: epochs without val_loss improvement before stopping (not with --anneal)"
    )
    reduce_lr_patience: int = option(
        0,
        "halve the learning rate after this many epochs without val_loss "
        "improvement (0 = constant learning rate)",
    )
    max_minutes: float = option(0.0, "stop training after this many minutes of wall clock (0 = no limit)")
    anneal: float = option(
        0.0,
        "decay the learning rate linearly to 0 over this last fraction of the budget "
        "(--max-minutes if set, else --epochs; training then runs to the budget's end: no early "
        "stopping); 0 = off",
    )
    ema: float = option(
        0.0,
        "keep an exponential moving average of the weights with this momentum (e.g. 0.995): "
        "validation, checkpoints and exports use the average (0 = off)",
    )
    jit_compile: bool = option(
        False, "compile the training step with XLA (Keras leaves XLA off on CPU-only machines by default)"
    )
    distribute: str = option(
        "none",
        "tf.distribute strategy: none (one device), mirrored (all local GPUs, or --cpu-devices), "
        "multiworker (the cluster in TF_CONFIG; the chief writes the run); --batch-size is the global batch",
        choices=["none", "mirrored", "multiworker"],
    )
    cpu_devices: int = option(0, "--distribute mirrored without GPUs: split the CPU into N logical devices")
    scale_lr: bool = option(False, "multiply --learning-rate by the number of replicas")
    cluster_timeout: float = option(
        300.0, "--distribute multiworker: seconds to wait for every worker of TF_CONFIG to start"
    )
    precision: str = option(
        "float32",
        "Keras dtype policy; mixed_bfloat16 about doubles CPU speed "
        "on CPUs with AVX512-BF16 (mixed_float16 for GPUs)",
        choices=["float32", "mixed_bfloat16", "mixed_float16"],
    )


def with_default(name: str, default):
    """A shared option (its help, its choices) with a task's own default."""
    metadata = TrainConfig.__dataclass_fields__[name].metadata
    return option(default, metadata["help"], metadata.get("choices"))


def require_at_least(cfg, low, *names: str) -> None:
    """A UserError naming the first option in `names` whose value is below `low` (None = unset)."""
    from keras_rnn import UserError

    for name in names:
        value = getattr(cfg, name)
        if value is not None and value < low:
            raise UserError(f"--{name.replace('_', '-')} must be at least {low}, got {value}")


def require_fraction(cfg, *names: str) -> None:
    """A UserError naming the first option in `names` outside [0, 1)."""
    from keras_rnn import UserError

    for name in names:
        if not 0 <= getattr(cfg, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be in [0, 1), got {getattr(cfg, name)}")


def check_shared(cfg: TrainConfig) -> None:
    """Refuse shared options that cannot work, before any run directory is made."""
    from keras_rnn import UserError

    require_at_least(cfg, 1, "epochs", "batch_size", "steps_per_epoch")
    require_at_least(cfg, 0, "patience", "reduce_lr_patience", "clipnorm", "clipvalue", "max_minutes")
    require_at_least(cfg, 1, "cluster_timeout")
    if cfg.cpu_devices and not 2 <= cfg.cpu_devices <= 64:
        raise UserError(f"--cpu-devices must be between 2 and 64, got {cfg.cpu_devices}")
    if not 0 <= cfg.anneal <= 1:
        raise UserError(f"--anneal must be in [0, 1], got {cfg.anneal}")
    require_fraction(cfg, "ema")
    if not cfg.learning_rate > 0:
        raise UserError(f"--learning-rate must be > 0, got {cfg.learning_rate}")
    if not 0 <= cfg.seed < 2**32:
        raise UserError(f"--seed must be in [0, 2**32), got {cfg.seed}")


def _base_type(tp):
    if get_origin(tp) is not None:  # Optional[int] -> int
        args = [a for a in get_args(tp) if a is not type(None)]
        return args[0]
    return tp


def add_arguments(parser: argparse.ArgumentParser, config_cls) -> None:
    """Add one `--option` per dataclass field, with its type, default and help."""
    hints = get_type_hints(config_cls)
    for f in dataclasses.fields(config_cls):
        tp = _base_type(hints[f.name])
        flag = "--" + f.name.replace("_", "-")
        help_text = f.metadata.get("help", "")
        if "(default" not in help_text:  # some helps say what the default means instead
            help_text += f" (default: {f.default})"
        if tp is bool:
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=f.default, help=help_text
            )
        else:
            parser.add_argument(
                flag, type=tp, default=f.default, help=help_text, choices=f.metadata.get("choices")
            )


def from_args(config_cls, args: argparse.Namespace):
    names = {f.name for f in dataclasses.fields(config_cls)}
    return config_cls(**{k: v for k, v in vars(args).items() if k in names})


def save(config, path: Path) -> None:
    Path(path).write_text(json.dumps(dataclasses.asdict(config), indent=2) + "\n")


def load(config_cls, path: Path):
    return config_cls(**json.loads(Path(path).read_text()))
