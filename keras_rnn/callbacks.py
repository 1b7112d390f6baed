"""Keras callbacks the training loop and the tasks share (without importing the fit loop)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import keras
import numpy as np

from keras_rnn import plots, write_atomically


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


class Anneal(keras.callbacks.Callback):
    """Decays the learning rate linearly to 0 over the last `fraction` of the budget: wall clock
    when there is one (--max-minutes), else epochs. A short budget ends on small steps rather than
    mid-stride (the "decay" phase of warmup-stable-decay schedules). A cut made by another
    callback between epochs (--reduce-lr-patience) scales the rate it decays from."""

    def __init__(self, fraction: float, learning_rate: float, minutes: float = 0.0):
        super().__init__()
        self.fraction, self.base, self.seconds = fraction, learning_rate, minutes * 60

    def on_train_begin(self, logs=None):
        self.start = time.monotonic()
        self.steps_per_epoch = self.params.get("steps") or 1
        self.total_steps = max(1, self.params["epochs"] * self.steps_per_epoch)
        self.assigned = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        current = float(self.model.optimizer.learning_rate.numpy())
        if self.assigned and abs(current - self.assigned) > 1e-6 * self.assigned:
            self.base *= current / self.assigned

    def on_train_batch_begin(self, batch, logs=None):
        progress = (self.epoch * self.steps_per_epoch + batch) / self.total_steps
        if self.seconds:
            progress = max(progress, (time.monotonic() - self.start) / self.seconds)
        scale = min(1.0, max(0.0, (1.0 - progress) / self.fraction))
        self.assigned = self.base * scale
        self.model.optimizer.learning_rate.assign(self.assigned)


class ResetStates(keras.callbacks.Callback):
    """Truncated BPTT bookkeeping for models with `stateful` recurrent layers: zero the carried
    state at the start of each pass over the text; validation runs its own streams from a zero
    state, and training then continues from the state it had (an epoch of --steps-per-epoch may
    end mid-pass)."""

    def __init__(self, chunks_per_pass: int):
        super().__init__()
        self.chunks_per_pass, self.seen, self.saved = chunks_per_pass, 0, None

    def _states(self):
        return carried_states(self.model)

    def _reset(self):
        for layer in self.model.layers:
            if getattr(layer, "stateful", False):
                layer.reset_state()

    def on_train_batch_begin(self, batch, logs=None):
        if self.seen % self.chunks_per_pass == 0:
            self._reset()
        self.seen += 1

    def on_test_begin(self, logs=None):
        self.saved = [v.numpy() for v in self._states()]
        self._reset()

    def on_test_end(self, logs=None):
        for variable, value in zip(self._states(), self.saved or []):
            variable.assign(value)


def carried_states(model) -> list:
    """The state variables of the model's `stateful` recurrent layers (not in its weights file)."""
    return [v for layer in model.layers if getattr(layer, "stateful", False) for v in (layer.states or [])]


class Backup(keras.callbacks.BackupAndRestore):
    """BackupAndRestore (re-run the same command and training resumes) made exact and atomic.

    Each epoch's weights (with the optimizer's state, --ema's average included) go to a new file,
    the carried state of `stateful` layers (--stateful) to another; then one JSON, written under a
    temporary name and renamed, records the epoch, those files, the dropout RNGs' state and the
    state of the other callbacks (the best value so far and the epochs since it: the checkpoint,
    early stopping, learning-rate cuts, the anneal's base; the chunks ResetStates has counted).
    A kill at any moment leaves the previous backup or the new one, never a mix. Kept after
    training (the training loop deletes it once metrics.json is written), so a run killed while
    finishing does not train again. Put it last: its on_train_begin restores what the others'
    reset, and its on_epoch_end swaps SwapEMAWeights' average back out of the model (after the
    checkpoint saved it) before backing up, so the backup holds the raw training weights. The
    callbacks are read from `callbacks` when training begins: ones added to that list later count.
    """

    STATE = {
        keras.callbacks.ModelCheckpoint: ("best",),
        keras.callbacks.EarlyStopping: ("best", "best_epoch", "wait"),
        keras.callbacks.ReduceLROnPlateau: ("best", "wait", "cooldown_counter"),
        Anneal: ("base", "assigned"),
        ResetStates: ("seen",),
    }
    METADATA = "training_metadata.json"

    def __init__(self, backup_dir: Path, callbacks: list):
        super().__init__(str(backup_dir), delete_checkpoint=False)
        self.directory = Path(backup_dir)
        self.others = callbacks

    def _stateful(self) -> list:
        """(callback, the attributes backed up) for each callback with state, in list order."""
        return [(c, keys) for c in self.others for kind, keys in self.STATE.items() if isinstance(c, kind)]

    @classmethod
    def saved(cls, backup_dir: Path) -> dict:
        """What the backup in `backup_dir` records ({} where there is none): "epoch" (epochs done),
        "weights" (their file), "states" (the carried states' file, or none), "callbacks" (their
        state), "seeds" (the dropout RNGs')."""
        path = Path(backup_dir) / cls.METADATA
        return json.loads(path.read_text()) if path.exists() else {}

    @classmethod
    def restore_weights(cls, model, backup_dir: Path) -> dict:
        """Load the backed-up weights (and optimizer state) into `model`; returns `saved`."""
        saved = cls.saved(backup_dir)
        if saved:
            if model.optimizer is not None and not model.optimizer.built:
                model.optimizer.build(model.trainable_variables)
            model.load_weights(Path(backup_dir) / saved["weights"])
        return saved

    def on_train_begin(self, logs=None):
        saved = self.restore_weights(self.model, self.directory)
        if saved:
            self.model._initial_epoch = saved["epoch"]
            for variable, value in zip(_seed_states(self.model), saved["seeds"]):
                variable.assign(value)
            if saved.get("states"):
                with np.load(self.directory / saved["states"]) as states:
                    for i, variable in enumerate(carried_states(self.model)):
                        variable.assign(states[str(i)])
            for (callback, keys), values in zip(self._stateful(), saved["callbacks"]):
                for key in keys:
                    setattr(callback, key, values[key])

    def _save_model(self):
        self._swap_ema_out()
        self.directory.mkdir(parents=True, exist_ok=True)
        weights = f"epoch-{self._current_epoch}.weights.h5"
        self.model.save_weights(self.directory / weights, overwrite=True)
        carried = carried_states(self.model)  # not in the weights file
        states = f"epoch-{self._current_epoch}.states.npz" if carried else None
        if carried:
            with open(self.directory / states, "wb") as f:
                np.savez(f, **{str(i): v.numpy() for i, v in enumerate(carried)})
        state = [{key: _plain(getattr(c, key)) for key in keys} for c, keys in self._stateful()]
        metadata = {
            "epoch": self._current_epoch,
            "stopped": bool(self.model.stop_training),  # early stopping or the time budget ended training
            "weights": weights,
            "states": states,
            "callbacks": state,
            "seeds": [v.numpy().tolist() for v in _seed_states(self.model)],  # not in the weights file
        }
        write_atomically(self.directory / self.METADATA, json.dumps(metadata))
        for old in self.directory.glob("epoch-*"):
            if old.name not in (weights, states):
                old.unlink()

    def _swap_ema_out(self):
        """--ema: SwapEMAWeights(swap_on_epoch=True) swapped the moving average into the model at
        this epoch's end (for validation and the checkpoint) and would swap the raw weights back
        at the next epoch's start. Swap them back now, with its own swap, so the backup holds the
        raw weights and the average exactly as training continues with them; a resumed process
        starts with the raw weights in the model, as SwapEMAWeights then expects."""
        for callback in self.others:
            if isinstance(callback, keras.callbacks.SwapEMAWeights) and callback._ema_weights_in_model:
                callback._swap_variables()
                callback._ema_weights_in_model = False


def _seed_states(model) -> list:
    """The states of the model's random-number generators (dropout's), in a fixed order."""
    return [v for v in model.variables if v.path.endswith("seed_generator_state")]


def _plain(value):
    """A callback's state as JSON can hold it (numpy scalars -> float; inf stays inf)."""
    return value if value is None or isinstance(value, int) else float(value)
