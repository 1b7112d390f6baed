"""The Task interface: what every model family gives the shared training, export and
prediction code. One module per task implements it (`charlm`, `translate`, `caption`,
`esn`); `keras_rnn.tasks.get(name)` finds it.

The life of a run, and which method serves each step:

1. `check(cfg)`: refuse impossible options before any data is read or directory made;
2. `prepare(cfg, run_dir) -> TrainingPlan`: data, model, loss, the task's callbacks
   (`keras_rnn.training.train` compiles and fits it, the same way for every task);
3. `load(run_dir) -> Run`: a finished run's config, vocabulary and model;
4. `serving(run, xla) -> ServingSpec`: the SavedModel signatures and LiteRT functions
   (`keras_rnn.export.writer` writes them); `export_options` names the export flags
   the task supports, and `check_export_options` refuses the others in one place;
5. `add_predict_arguments(parser)` / `predict(run, args)`: the `predict.py` command.

What the tasks that decode or label share lives below them: `keras_rnn.evaluation` (the
validation callback, the test summary of the best checkpoint, predict's answer lines) and, for
the encoder-decoders, `keras_rnn.export.encoder_decoder` (serving, greedy decoding, predict's
search options).
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from keras_rnn import UserError, runs


@dataclasses.dataclass
class TrainingPlan:
    """What a task hands to `keras_rnn.training.train`."""

    model: Any  # keras.Model, trained by model.fit
    train_data: Any  # tf.data.Dataset
    validation_data: Any  # tf.data.Dataset or None
    loss: Any
    metrics: list = dataclasses.field(default_factory=list)
    callbacks: list = dataclasses.field(default_factory=list)
    steps_per_epoch: int | None = None
    epochs: int | None = None  # what the task needs, e.g. one closed-form fit (default: --epochs)
    validation_steps: int | None = None
    summary: Callable[[dict], dict] | None = None  # metrics.json so far -> extra entries
    loss_label: str = "loss"  # the y axis of loss.png, e.g. "cross-entropy (nats per character)"
    # what picks the checkpoint (and stops early): a logged validation number and its better direction
    monitor: str = "val_loss"
    monitor_mode: str = "min"


class Task:
    """Base class of the four tasks; subclasses set the class attributes and override
    `prepare` and `serving` (and `check`, `predict` where they have something to say)."""

    name: str = ""
    Config: type = None  # a dataclass deriving from keras_rnn.config.TrainConfig
    Vocabulary: type | None = None  # what vocab.json holds (None: the task has no vocabulary)
    export_options: frozenset = frozenset()  # export flags the task supports, e.g. {"xla"}

    def check(self, cfg) -> None:
        """Refuse the task's own impossible options (the shared ones are checked already)."""

    def prepare(self, cfg, run_dir: Path) -> TrainingPlan:
        raise NotImplementedError

    def load(self, run_dir: Path) -> runs.Run:
        """A finished run's config, vocabulary and trained Keras model."""
        return runs.load_run(run_dir, self.Config, self.Vocabulary)

    def serving(self, run: runs.Run, xla: bool = False):
        """The run's `keras_rnn.export.ServingSpec`."""
        raise NotImplementedError

    def check_export_options(self, **options) -> None:
        """One error line for an export flag this task does not support."""
        for flag, value in options.items():
            if value and flag not in self.export_options:
                raise UserError(f"the {self.name} export has no --{flag} variant; drop --{flag}")

    def add_predict_arguments(self, parser: argparse.ArgumentParser) -> None:
        """The task's options of `predict.py` (none: the task has no predict command)."""

    def predict(self, run: runs.Run, args: argparse.Namespace) -> None:
        raise UserError(
            f"the {self.name} task has no predict command: export it (python export.py --task {self.name}) "
            "and call the SavedModel"
        )
