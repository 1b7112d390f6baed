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


def option(default, help: str, choices=None, aliases=(), bare=None, negated=None, legacy=None):
    """A dataclass field carrying its --help text, and how `add_arguments` offers it:

    - `choices`: the allowed values;
    - `aliases`: more flags for the same field, listed before its own in `--help`; e.g. `pairs_file`
      with `("--train-file",)` takes `--train-file` and `--pairs-file`, and config.json keeps `pairs_file`;
    - `bare`: the value of the flag given without one (`--jit-compile` = `--jit-compile on`);
    - `negated`: adds `--no-FLAG`, which sets this value (`--no-jit-compile` = `--jit-compile off`);
    - `legacy`: {old saved value: its value now}, applied to an old run's config.json on loading
      (`load`, `normalized`), so an old run loads and resumes with what it did."""
    metadata = {"help": help, "choices": choices, "aliases": tuple(aliases), "bare": bare}
    return dataclasses.field(default=default, metadata={**metadata, "negated": negated, "legacy": legacy})


JIT_COMPILE = {"auto": "auto", "on": True, "off": False}  # --jit-compile -> model.compile(jit_compile=)


@dataclasses.dataclass
class TrainConfig:
    """Options every task shares (the command-line contract)."""

    epochs: int = option(10, "passes over the training data (or of --steps-per-epoch batches)")
    steps_per_epoch: int | None = option(None, "batches per epoch (default: one pass over the data)")
    batch_size: int = option(64, "examples per batch")
    seed: int = option(
        0, "random seed: data order, initialisation, sampling, and the data split unless --data-seed"
    )
    data_seed: int | None = option(
        None,
        "seed of the data split and of generated data (default: --seed); fix it to score several "
        "--seed values on the same test set (charlm's split is not random)",
    )
    optimizer: str = option("adam", "optimizer", choices=["adam", "rmsprop", "sgd", "adagrad"])
    learning_rate: float = option(2e-3, "learning rate")
    clipnorm: float = option(5.0, "clip each gradient to this L2 norm (0 = off)")
    clipvalue: float = option(0.0, "clip each gradient element to [-v, v]; replaces --clipnorm (0 = off)")
    patience: int = option(
        5,
        "early stopping: epochs without improvement of the number that picks the checkpoint "
        "(val_loss; translate: its --select-by, val_bleu by default) before stopping; off with "
        "--anneal (on by default for translate)",
    )
    reduce_lr_patience: int = option(
        0,
        "halve the learning rate after this many epochs without improvement of the number that picks "
        "the checkpoint (val_loss; translate: --select-by) (0 = constant learning rate)",
    )
    max_minutes: float = option(0.0, "stop training after this many minutes of wall clock (0 = no limit)")
    anneal: float = option(
        0.0,
        "decay the learning rate linearly to 0 over this last fraction of the budget "
        "(--max-minutes if set, else --epochs; training then runs to the budget's end: no early "
        "stopping); 0 = off",
    )
    weight_decay: float = option(
        0.0, "decoupled weight decay (AdamW's): each step shrinks the weights by rate x this (0 = off)"
    )
    ema: float = option(
        0.0,
        "keep an exponential moving average of the weights with this momentum (e.g. 0.995): "
        "validation, checkpoints and exports use the average (0 = off)",
    )
    jit_compile: str = option(
        "auto",
        "compile the training step with XLA: auto (Keras decides: XLA on a GPU where the model allows "
        "it, off on CPU-only machines and under --distribute), on (a bare --jit-compile too), off "
        "(--no-jit-compile too); never for the ESN's closed-form ridge fit",
        choices=list(JIT_COMPILE),
        bare="on",
        negated="off",
        legacy={True: "on", False: "auto"},  # the old boolean: False meant Keras' "auto"
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


def train_file(help: str):
    """A task's training data: `--train-file` for every task, beside the task's own older flag
    (`--text-file`, `--pairs-file`, ...: the field's name, which config.json keeps)."""
    return option(None, help, aliases=("--train-file",))


def with_default(name: str, default):
    """A shared option (its help, its choices, its flags) with a task's own default."""
    return dataclasses.field(default=default, metadata=TrainConfig.__dataclass_fields__[name].metadata)


def data_seed(cfg) -> int:
    """The seed of the data split and of generated data: --data-seed, or else --seed."""
    return cfg.seed if cfg.data_seed is None else cfg.data_seed


def uses_xla(cfg) -> bool:
    """Whether the training step will be XLA-compiled, as Keras resolves --jit-compile auto
    (any accelerator, no tf.distribute strategy); e.g. to pad batches to a few shapes."""
    if cfg.jit_compile != "auto":
        return JIT_COMPILE[cfg.jit_compile]
    import tensorflow as tf

    accelerators = [d for d in tf.config.list_physical_devices() if d.device_type != "CPU"]
    return bool(accelerators) and cfg.distribute == "none"


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
    require_at_least(
        cfg, 0, "patience", "reduce_lr_patience", "clipnorm", "clipvalue", "max_minutes", "weight_decay"
    )
    require_at_least(cfg, 1, "cluster_timeout")
    if cfg.jit_compile not in JIT_COMPILE:
        raise UserError(f"--jit-compile must be one of {', '.join(JIT_COMPILE)}, got {cfg.jit_compile!r}")
    if cfg.cpu_devices and not 2 <= cfg.cpu_devices <= 64:
        raise UserError(f"--cpu-devices must be between 2 and 64, got {cfg.cpu_devices}")
    if not 0 <= cfg.anneal <= 1:
        raise UserError(f"--anneal must be in [0, 1], got {cfg.anneal}")
    require_fraction(cfg, "ema")
    if not cfg.learning_rate > 0:
        raise UserError(f"--learning-rate must be > 0, got {cfg.learning_rate}")
    for name in ("seed", "data_seed"):
        value = getattr(cfg, name)
        if value is not None and not 0 <= value < 2**32:
            raise UserError(f"--{name.replace('_', '-')} must be in [0, 2**32), got {value}")


def _base_type(tp):
    if get_origin(tp) is not None:  # Optional[int] -> int
        args = [a for a in get_args(tp) if a is not type(None)]
        return args[0]
    return tp


def add_arguments(parser: argparse.ArgumentParser, config_cls) -> None:
    """Add one `--option` per dataclass field, with its type, default and help (and the flags
    its `option` asks for: aliases, a bare form, a `--no-` form)."""
    hints = get_type_hints(config_cls)
    for f in dataclasses.fields(config_cls):
        tp, meta = _base_type(hints[f.name]), f.metadata
        flag = "--" + f.name.replace("_", "-")
        flags = [*meta.get("aliases", ()), flag]  # the aliases first: --help lists --train-file first
        help_text = meta.get("help", "")
        if "(default" not in help_text:  # some helps say what the default means instead
            help_text += f" (default: {f.default})"
        common = {"dest": f.name, "default": f.default, "help": help_text.replace("%", "%%")}  # argparse
        if tp is bool:
            parser.add_argument(*flags, action=argparse.BooleanOptionalAction, **common)
            continue
        nargs = {"nargs": "?", "const": meta["bare"]} if meta.get("bare") is not None else {}
        metavar = "FILE" if f.name.endswith("_file") else None
        parser.add_argument(*flags, type=tp, choices=meta.get("choices"), metavar=metavar, **nargs, **common)
        if meta.get("negated") is not None:
            parser.add_argument(
                f"--no-{flag[2:]}",
                dest=f.name,
                action="store_const",
                const=meta["negated"],
                help=f"same as {flag} {meta['negated']}",
            )


def from_args(config_cls, args: argparse.Namespace):
    """The config of the command line's options, a renamed value given by its old name read as
    the new one (its `legacy` map: `--cell slides-gru` is `--cell gru-z-new`)."""
    fields = {f.name: f.metadata.get("legacy") or {} for f in dataclasses.fields(config_cls)}
    given = {k: v for k, v in vars(args).items() if k in fields}
    return config_cls(**{k: fields[k].get(v, v) if isinstance(v, str) else v for k, v in given.items()})


def save(config, path: Path) -> None:
    Path(path).write_text(json.dumps(dataclasses.asdict(config), indent=2) + "\n")


def normalized(saved: dict, config_cls) -> dict:
    """An old run's saved options as they read now: values an option has since renamed
    (its `legacy` map), and options added since at their defaults (which keep the old behaviour)."""
    saved = dict(saved)
    for f in dataclasses.fields(config_cls):
        if f.name not in saved:
            saved[f.name] = f.default
        legacy, value = f.metadata.get("legacy"), saved[f.name]
        if legacy and isinstance(value, (bool, str)) and value in legacy:
            saved[f.name] = legacy[value]
    return saved


def load(config_cls, path: Path):
    """The options a run was made with (a ValueError or TypeError where the file is not such)."""
    saved = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(saved, dict):
        raise ValueError("not a JSON object")
    saved, hints = normalized(saved, config_cls), get_type_hints(config_cls)
    for f in dataclasses.fields(config_cls):
        kind, value = _base_type(hints[f.name]), saved[f.name]
        wanted = (int, float) if kind is float else kind
        if kind in (int, float, str, bool) and value is not None and not isinstance(value, wanted):
            raise TypeError(f"'{f.name}' is {value!r}, not a {kind.__name__}")
    return config_cls(**saved)
