"""The one place that compiles a model, builds the callbacks and calls `model.fit`.

A task says *what* to train (`task.prepare` returns a `TrainingPlan`); this
module says *how*, the same way for every task:

- run directories: `runs/TASK/<timestamp>/` holding config, model, logs, metrics;
- callbacks: best-val checkpoint (`model.keras`), early stopping, TensorBoard,
  `BackupAndRestore` (re-run the same command after an interruption and it
  resumes), `TerminateOnNaN`, a CSV log, a loss-curve PNG, an optional
  wall-clock budget, plus the task's own callbacks;
- `metrics.json` is written last: its presence marks a finished run.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import keras
import tensorflow as tf

from keras_rnn import UserError, config as config_lib, plots

RUNS_ROOT = Path("runs")
MODEL_FILE = "model.keras"
METRICS_FILE = "metrics.json"
CONFIG_FILE = "config.json"
VOCAB_FILE = "vocab.json"  # the tasks with a vocabulary save it here


@dataclasses.dataclass
class TrainingPlan:
    """What a task hands to `train`."""

    model: keras.Model
    train_data: tf.data.Dataset
    validation_data: tf.data.Dataset | None
    loss: Any
    metrics: list = dataclasses.field(default_factory=list)
    callbacks: list = dataclasses.field(default_factory=list)
    steps_per_epoch: int | None = None
    validation_steps: int | None = None
    summary: Callable[[dict], dict] | None = None  # history -> extra metrics.json entries
    loss_label: str = "loss"  # the y axis of loss.png, e.g. "cross-entropy (nats per character)"


# ---------------------------------------------------------------- run directories
def is_finished(run_dir: Path) -> bool:
    return (Path(run_dir) / METRICS_FILE).exists()


def latest_run(task_name: str, root: Path | None = None, finished: bool = False) -> Path | None:
    """The task's most recently started (or resumed) run under `root` (by its config's time,
    whatever the directory is called); with `finished`, the most recent finished one."""
    runs = [p for p in (Path(root or RUNS_ROOT) / task_name).glob("*") if (p / CONFIG_FILE).exists()
            and (not finished or is_finished(p))]
    return max(runs, key=lambda p: (p / CONFIG_FILE).stat().st_mtime) if runs else None


def check_options(task, cfg) -> None:
    """Every option check, shared then the task's, before any data is read (`train` runs it)."""
    config_lib.check_shared(cfg)
    task.check(cfg)


def prepare_run_dir(task_name: str, cfg, run_dir: str | None, fresh: bool = False) -> Path:
    """Pick the run directory: resume an interrupted run with the same config, else start anew."""
    wanted = dataclasses.asdict(cfg)
    if run_dir is None:
        previous = None if fresh else latest_run(task_name)
        if previous and not is_finished(previous) and _resumable_config(previous) == wanted:
            print(f"Resuming the interrupted run in {previous} (pass --fresh to start a new one)")
            return previous
        run_dir = RUNS_ROOT / task_name / datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"--run-dir {run_dir} is a file: give a new or empty directory")
    if is_finished(run_dir):
        raise UserError(f"{run_dir} already holds a finished run: pass another --run-dir, "
                        "or delete that directory to train again")
    saved = _saved_config(run_dir)
    if saved is None and run_dir.is_dir() and any(run_dir.iterdir()):
        raise UserError(f"{run_dir} is not empty and holds no run ({CONFIG_FILE}): "
                        "pass a new or empty --run-dir, so nothing there is overwritten")
    if saved is not None and not has_started(run_dir):
        remove_setup_files(run_dir)  # set up but never trained (e.g. refused data): nothing to keep
        saved = None
    if saved is not None and saved != wanted:
        changed = sorted(k for k in wanted if saved.get(k) != wanted[k])
        raise UserError(f"{run_dir} holds an unfinished run with other options ({', '.join(changed)}): "
                        "repeat that run's exact command to resume it, or pass another --run-dir")
    if saved is not None:
        print(f"Resuming the interrupted run in {run_dir}")
    run_dir.mkdir(parents=True, exist_ok=True)
    config_lib.save(cfg, run_dir / CONFIG_FILE)
    return run_dir


def remove_setup_files(run_dir: Path) -> None:
    """Delete what a run writes before its first epoch (its config and vocabulary), nothing else."""
    for name in (CONFIG_FILE, VOCAB_FILE):
        (Path(run_dir) / name).unlink(missing_ok=True)


def has_started(run_dir: Path) -> bool:
    """Training began here: the CSV log (opened when fit starts) or a backup exists."""
    return (Path(run_dir) / "history.csv").exists() or (Path(run_dir) / "backup").exists()


def load_run(run_dir: Path, config_cls, vocab_cls=None) -> tuple:
    """(config, vocabulary, trained Keras model) of a run, or (config, model) for a task
    without a vocabulary: where export, sampling and evaluation start."""
    run_dir = Path(run_dir)
    cfg = config_lib.load(config_cls, run_dir / CONFIG_FILE)
    model = keras.saving.load_model(run_dir / MODEL_FILE, compile=False)
    return (cfg, model) if vocab_cls is None else (cfg, vocab_cls.load(run_dir / VOCAB_FILE), model)


def _resumable_config(run_dir: Path):
    try:
        return _saved_config(run_dir)
    except UserError:  # not a run after all: never resumed, and a new run goes elsewhere
        return None


def _saved_config(run_dir: Path):
    """The options a run directory was made with; None where there is no config.json."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.exists():
        return None
    try:
        saved = json.loads(path.read_text())
    except (ValueError, OSError):
        saved = None
    if not isinstance(saved, dict) or not {"epochs", "batch_size", "seed"} <= set(saved):
        raise UserError(f"{path} is not the config of a keras-rnn run: pass a new or empty --run-dir, "
                        "so nothing there is overwritten")
    return saved


def finished_run(task_name: str, run_dir=None) -> Path:
    """`run_dir`, or else the latest finished run of the task; refuses a run without a
    finished model, or one of another task."""
    if run_dir is None:
        run_dir = latest_run(task_name, finished=True)
        if run_dir is None:
            raise UserError(f"no finished {task_name} run under {RUNS_ROOT}/ yet: "
                            f"train one first (python train.py --task {task_name})")
        newest = latest_run(task_name)
        if newest != run_dir:
            print(f"Using {run_dir}, the latest finished {task_name} run ({newest} is not finished)")
    return require_finished_run(run_dir, task_name)


def require_finished_run(run_dir: Path, task_name: str | None = None) -> Path:
    run_dir = Path(run_dir)
    if not (run_dir / MODEL_FILE).exists() or not is_finished(run_dir):
        raise UserError(f"{run_dir} has no finished model (no {MODEL_FILE} and {METRICS_FILE}): "
                        "finish training there first (re-running the same train command resumes it)")
    try:
        trained_task = json.loads((run_dir / METRICS_FILE).read_text()).get("task")
    except (ValueError, OSError, AttributeError):
        trained_task = None
    if task_name and trained_task and trained_task != task_name:
        raise UserError(f"{run_dir} is a {trained_task} run, not {task_name}: pass --task {trained_task} "
                        f"or a {task_name} run's directory")
    return run_dir


# ---------------------------------------------------------------- callbacks
class LossCurve(keras.callbacks.Callback):
    """Redraws `loss.png` from the CSV log after every epoch (resumed runs included)."""

    def __init__(self, csv_path: Path, png_path: Path, title: str, ylabel: str = "loss"):
        super().__init__()
        self.csv_path, self.png_path, self.title, self.ylabel = csv_path, png_path, title, ylabel

    def on_epoch_end(self, epoch, logs=None):
        plots.plot_history_csv(self.csv_path, self.png_path, self.title, self.ylabel)


class TimeBudget(keras.callbacks.Callback):
    """Stops training cleanly once a wall-clock budget is spent (checked every batch)."""

    def __init__(self, minutes: float):
        super().__init__()
        self.seconds = minutes * 60

    def on_train_begin(self, logs=None):
        self.start = time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        if time.monotonic() - self.start > self.seconds:
            print(f"\nTime budget of {self.seconds / 60:g} min reached: stopping.")
            self.model.stop_training = True


def make_optimizer(cfg) -> keras.optimizers.Optimizer:
    # Keras takes one kind of clipping: a --clipvalue replaces the (default) --clipnorm.
    clipping = {}
    if cfg.clipvalue:
        clipping["clipvalue"] = cfg.clipvalue
    elif cfg.clipnorm:
        clipping["clipnorm"] = cfg.clipnorm
    classes = {"adam": keras.optimizers.Adam, "rmsprop": keras.optimizers.RMSprop,
               "sgd": keras.optimizers.SGD, "adagrad": keras.optimizers.Adagrad}
    return classes[cfg.optimizer](learning_rate=cfg.learning_rate, **clipping)


def standard_callbacks(run_dir: Path, cfg, task_name: str, loss_label: str = "loss") -> list:
    monitor = "val_loss"
    callbacks = [
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.ModelCheckpoint(run_dir / MODEL_FILE, monitor=monitor, save_best_only=True),
        keras.callbacks.EarlyStopping(monitor=monitor, patience=cfg.patience, restore_best_weights=False),
        # before the loggers: it adds the epoch's learning_rate to the logs they write
        keras.callbacks.ReduceLROnPlateau(monitor=monitor, factor=0.5, patience=cfg.reduce_lr_patience,
                                          min_lr=cfg.learning_rate / 1000) if cfg.reduce_lr_patience else None,
        keras.callbacks.TensorBoard(log_dir=str(run_dir / "logs")),
        keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True),
        LossCurve(run_dir / "history.csv", run_dir / "loss.png", task_name, loss_label),
    ]
    callbacks = [c for c in callbacks if c is not None]
    if cfg.max_minutes:
        callbacks.append(TimeBudget(cfg.max_minutes))
    # Last, so an interruption never leaves a backup newer than the logs above.
    callbacks.append(keras.callbacks.BackupAndRestore(backup_dir=str(run_dir / "backup")))
    return callbacks


# ---------------------------------------------------------------- the loop
def train(task, cfg, run_dir: Path, extra_callbacks=()) -> dict:
    """Train `task` with `cfg` into `run_dir`; returns what is written to metrics.json."""
    try:
        check_options(task, cfg)
        keras.utils.set_random_seed(cfg.seed)
        keras.mixed_precision.set_global_policy(cfg.precision)
        devices = [d.name for d in tf.config.list_logical_devices("GPU")] or ["CPU"]
        print(f"Training {task.name} on {', '.join(devices)} -> {run_dir}")
        plan = task.prepare(cfg, run_dir)
    except BaseException:  # refused (or interrupted) before any training: leave no half-made run behind
        if not has_started(run_dir):
            remove_setup_files(run_dir)
            if not any(run_dir.iterdir()):
                run_dir.rmdir()
        raise
    plan.model.compile(optimizer=make_optimizer(cfg), loss=plan.loss, metrics=plan.metrics)
    plan.model.summary()
    keras.mixed_precision.set_global_policy("float32")  # only the model above computes in low precision
    callbacks = standard_callbacks(run_dir, cfg, task.name, plan.loss_label)
    callbacks[1:1] = list(plan.callbacks) + list(extra_callbacks)
    started = time.monotonic()
    history = plan.model.fit(
        plan.train_data, validation_data=plan.validation_data, epochs=cfg.epochs,
        steps_per_epoch=plan.steps_per_epoch or cfg.steps_per_epoch,
        validation_steps=plan.validation_steps, callbacks=callbacks, shuffle=False, verbose=1)
    if plan.model.stop_training and history.history and any(
            math.isnan(v) for v in history.history.get("loss", [])):
        raise UserError("training stopped: the loss became NaN; lower --learning-rate or set --clipnorm")
    if not (run_dir / MODEL_FILE).exists():  # e.g. no validation data: keep the last weights
        plan.model.save(run_dir / MODEL_FILE)
    logs = plots.read_history_csv(run_dir / "history.csv")
    metrics = {"task": task.name, "epochs_run": len(logs.get("loss", [])),
               "train_seconds_this_session": round(time.monotonic() - started, 1),
               "finished": datetime.now().isoformat(timespec="seconds")}
    if logs.get("val_loss"):
        best = min(range(len(logs["val_loss"])), key=logs["val_loss"].__getitem__)
        metrics.update({f"best_{k}": v[best] for k, v in logs.items() if k != "epoch"})
        metrics["best_epoch"] = best + 1
    if plan.summary:
        metrics.update(plan.summary(metrics))
    (run_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
    shutil.rmtree(run_dir / "backup", ignore_errors=True)
    return metrics
