"""Keras callbacks the training loop and the tasks share (without importing the fit loop)."""

from __future__ import annotations

import time
from pathlib import Path

import keras

from keras_rnn import plots


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
    mid-stride (the "decay" phase of warmup-stable-decay schedules)."""

    def __init__(self, fraction: float, learning_rate: float, minutes: float = 0.0):
        super().__init__()
        self.fraction, self.base, self.seconds = fraction, learning_rate, minutes * 60

    def on_train_begin(self, logs=None):
        self.start = time.monotonic()
        self.steps_per_epoch = self.params.get("steps") or 1
        self.total_steps = max(1, self.params["epochs"] * self.steps_per_epoch)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        progress = (self.epoch * self.steps_per_epoch + batch) / self.total_steps
        if self.seconds:
            progress = max(progress, (time.monotonic() - self.start) / self.seconds)
        scale = min(1.0, max(0.0, (1.0 - progress) / self.fraction))
        self.model.optimizer.learning_rate.assign(self.base * scale)


class ResetStates(keras.callbacks.Callback):
    """Truncated BPTT bookkeeping for models with `stateful` recurrent layers: zero the carried
    state at the start of each pass over the text; validation runs its own streams from a zero
    state, and training then continues from the state it had (an epoch of --steps-per-epoch may
    end mid-pass)."""

    def __init__(self, chunks_per_pass: int):
        super().__init__()
        self.chunks_per_pass, self.seen, self.saved = chunks_per_pass, 0, None

    def _states(self):
        return [v for layer in self.model.layers if getattr(layer, "stateful", False) for v in layer.states]

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
