"""The one place that compiles a model, builds the callbacks and calls `model.fit`.

A task says *what* to train (`task.prepare` returns a `TrainingPlan`); this
module says *how*, the same way for every task:

- run directories (`keras_rnn.runs`): `runs/TASK/<timestamp>/` holding config, model, logs, metrics;
- callbacks: best-val checkpoint (`model.keras`), early stopping, TensorBoard,
  `BackupAndRestore` (re-run the same command after an interruption and it
  resumes), `TerminateOnNaN`, a CSV log, a loss-curve PNG, an optional
  wall-clock budget, plus the task's own callbacks;
- `metrics.json` is written last: its presence marks a finished run.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
import time
from datetime import datetime
from pathlib import Path

import keras
import tensorflow as tf

from keras_rnn import UserError, distribute, locks, plots, write_atomically
from keras_rnn import config as config_lib
from keras_rnn.callbacks import Anneal, Backup, LossCurve, TimeBudget
from keras_rnn.runs import BACKUP_DIR, HISTORY_FILE, METRICS_FILE, MODEL_FILE, has_started, remove_setup_files


def check_options(task, cfg) -> None:
    """Every option check, shared then the task's, before any data is read (`train` runs it)."""
    config_lib.check_shared(cfg)
    task.check(cfg)


def make_optimizer(cfg, replicas: int = 1) -> keras.optimizers.Optimizer:
    # Keras takes one kind of clipping: a --clipvalue replaces the (default) --clipnorm.
    clipping = {}
    if cfg.clipvalue:
        clipping["clipvalue"] = cfg.clipvalue
    elif cfg.clipnorm:
        clipping["clipnorm"] = cfg.clipnorm
    classes = {
        "adam": keras.optimizers.Adam,
        "rmsprop": keras.optimizers.RMSprop,
        "sgd": keras.optimizers.SGD,
        "adagrad": keras.optimizers.Adagrad,
    }
    averaging = {"use_ema": True, "ema_momentum": cfg.ema} if cfg.ema else {}
    decay = {"weight_decay": cfg.weight_decay} if cfg.weight_decay else {}
    learning_rate = cfg.learning_rate * (replicas if cfg.scale_lr else 1)
    return classes[cfg.optimizer](learning_rate=learning_rate, **clipping, **averaging, **decay)


def standard_callbacks(
    run_dir: Path, cfg, task_name: str, loss_label: str = "loss", monitor="val_loss", mode="min"
) -> list:
    """The callbacks every task trains with; `monitor=None` (no validation data): the checkpoint is
    the last epoch's weights, nothing stops early or lowers the learning rate on a plateau."""
    callbacks = [
        # first: every callback after it (validation, checkpoints, the task's reports) sees the average
        keras.callbacks.SwapEMAWeights(swap_on_epoch=True) if cfg.ema else None,
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.ModelCheckpoint(
            run_dir / MODEL_FILE, monitor=monitor or "loss", mode=mode, save_best_only=monitor is not None
        ),
        # --anneal: the budget's end is the decay, where the gains are: no stopping before it
        keras.callbacks.EarlyStopping(
            monitor=monitor, mode=mode, patience=cfg.patience, restore_best_weights=False
        )
        if not cfg.anneal and monitor
        else None,
        # before the loggers: it adds the epoch's learning_rate to the logs they write
        keras.callbacks.ReduceLROnPlateau(
            monitor=monitor,
            mode=mode,
            factor=0.5,
            patience=cfg.reduce_lr_patience,
            min_lr=cfg.learning_rate / 1000,
        )
        if cfg.reduce_lr_patience and monitor
        else None,
        keras.callbacks.TensorBoard(log_dir=str(run_dir / "logs")),
        keras.callbacks.CSVLogger(str(run_dir / HISTORY_FILE), append=True),
        LossCurve(run_dir / HISTORY_FILE, run_dir / "loss.png", task_name, loss_label),
    ]
    callbacks = [c for c in callbacks if c is not None]
    if cfg.max_minutes:
        callbacks.append(TimeBudget(cfg.max_minutes))
    if cfg.anneal:
        callbacks.append(Anneal(cfg.anneal, cfg.learning_rate, cfg.max_minutes))
    # Last, so an interruption never leaves a backup newer than the logs above.
    callbacks.append(Backup(run_dir / BACKUP_DIR, callbacks))
    return callbacks


def trim_history(csv_path: Path, epochs: int) -> None:
    """Keep the header and the first `epochs` rows of a CSV log: a run killed after logging an
    epoch but before backing it up trains that epoch again, and logs it once."""
    if not csv_path.exists():
        return
    lines = csv_path.read_text().splitlines(keepends=True)
    if len(lines) > epochs + 1:
        write_atomically(csv_path, "".join(lines[: epochs + 1]))


def abandon(run_dir: Path) -> None:
    """Remove what a run wrote before its training began (nothing, once it has begun)."""
    if not has_started(run_dir):
        remove_setup_files(run_dir)
        locks.release(run_dir)
        if not any(run_dir.iterdir()):
            run_dir.rmdir()


# ---------------------------------------------------------------- the loop
def train(task, cfg, run_dir: Path, extra_callbacks=()) -> dict:
    """Train `task` with `cfg` into `run_dir`; returns what is written to metrics.json."""
    try:
        check_options(task, cfg)
        # first: --cpu-devices must precede TF's runtime
        strategy = distribute.make_strategy(cfg, on_timeout=lambda: abandon(run_dir))
        distribute.check(cfg, strategy)
        keras.utils.set_random_seed(cfg.seed)
        keras.mixed_precision.set_global_policy(cfg.precision)
        print(f"Training {task.name} on {distribute.describe(strategy)} -> {run_dir}")
        if tf.config.list_physical_devices("GPU"):
            for note in distribute.cudnn_warnings(cfg):
                print(f"warning: {note}", file=sys.stderr)
        with strategy.scope():  # the model's (and optimizer's) variables are the strategy's
            plan = task.prepare(cfg, run_dir)
    except BaseException:  # refused (or interrupted) before any training: leave no half-made run behind
        abandon(run_dir)
        raise
    # --jit-compile auto|on|off (the ESN's ridge readout is never compiled: EchoStateNetwork.compile)
    with strategy.scope():
        plan.model.compile(
            optimizer=make_optimizer(cfg, strategy.num_replicas_in_sync),
            loss=plan.loss,
            metrics=plan.metrics,
            jit_compile=config_lib.JIT_COMPILE[cfg.jit_compile],
        )
    plan.model.summary()
    keras.mixed_precision.set_global_policy("float32")  # only the model above computes in low precision
    monitor = plan.monitor if plan.validation_data is not None else None
    callbacks = standard_callbacks(run_dir, cfg, task.name, plan.loss_label, monitor, plan.monitor_mode)
    # the task's own callbacks see each epoch before the checkpoint is written
    at = next(i for i, c in enumerate(callbacks) if isinstance(c, keras.callbacks.ModelCheckpoint))
    callbacks[at:at] = list(plan.callbacks) + list(extra_callbacks)
    started = time.monotonic()
    backup = Backup.saved(run_dir / BACKUP_DIR)
    done = backup.get("epoch", 0)
    try:
        distribute.check_same_everywhere(
            strategy,
            done,
            "the workers found different backups to resume from: every worker needs the chief's "
            "--run-dir at the same path (a shared filesystem), as Keras' BackupAndRestore does",
        )
    except UserError:
        abandon(run_dir)
        raise
    trim_history(run_dir / HISTORY_FILE, done)
    distribute.build_before_fit(plan.model, plan.train_data, strategy)
    steps, data = plan.steps_per_epoch or cfg.steps_per_epoch, plan.train_data
    validation_data = plan.validation_data
    if distribute.is_multiworker(strategy):
        data, validation_data = distribute.shard_by_data(data), distribute.shard_by_data(validation_data)
    if done and steps and data.cardinality() == tf.data.INFINITE_CARDINALITY:
        data = data.skip(done * steps)  # a resumed run reads on where it stopped
    epochs = plan.epochs or cfg.epochs
    if backup.get("stopped") or done >= epochs:  # killed after training, while finishing
        Backup.restore_weights(plan.model, run_dir / BACKUP_DIR)
        # as `fit` ends: --ema's average replaces the (backed-up) raw weights
        plan.model.optimizer.finalize_variable_values(plan.model.trainable_weights)
    else:
        plan.model.fit(
            data,
            validation_data=validation_data,
            epochs=epochs,
            steps_per_epoch=steps,
            validation_steps=plan.validation_steps,
            callbacks=callbacks,
            shuffle=False,
            verbose=1,
        )
    logs = plots.read_history_csv(run_dir / HISTORY_FILE)
    if any(math.isnan(v) for v in logs.get("loss", [])):
        raise UserError("training stopped: the loss became NaN; lower --learning-rate or set --clipnorm")
    if not (run_dir / MODEL_FILE).exists():  # e.g. no validation data: keep the last weights
        plan.model.save(run_dir / MODEL_FILE)
    metrics = {
        "task": task.name,
        "epochs_run": len(logs.get("loss", [])),
        "train_seconds_this_session": round(time.monotonic() - started, 1),
        "finished": datetime.now().isoformat(timespec="seconds"),
    }
    if logs.get(plan.monitor):
        pick = min if plan.monitor_mode == "min" else max
        best = pick(range(len(logs[plan.monitor])), key=logs[plan.monitor].__getitem__)
        metrics.update({f"best_{k}": v[best] for k, v in logs.items() if k != "epoch"})
        metrics["best_epoch"] = best + 1
    if plan.summary:
        metrics.update(plan.summary(metrics))
    write_atomically(run_dir / METRICS_FILE, json.dumps(metrics, indent=2) + "\n")  # never half of one
    shutil.rmtree(run_dir / BACKUP_DIR, ignore_errors=True)
    return metrics
