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


def add_search_arguments(parser: argparse.ArgumentParser, length_option: str) -> None:
    """`predict.py`'s --beam-width and --max-length, the same for every encoder-decoder task
    (`args.max_length` None: the task's decoding length for the run)."""
    parser.add_argument(
        "--beam-width",
        type=int,
        default=1,
        help="beams searched (default: 1, greedy: the search the test scores, the attention maps and "
        "the LiteRT hosts use, so the default output is what was scored; wider, e.g. 4, may do better)",
    )
    parser.add_argument(
        "--max-length",
        type=int,
        default=None,
        help="decoding steps at most, <end> included (the served max_length; default: the run's "
        f"{length_option} + 1: its longest training target, then <end>)",
    )


def search_options(args: argparse.Namespace, module) -> tuple[int, int]:
    """`predict.py`'s (beam width, max length) for an encoder-decoder serving `module` (default
    length: its `max_steps`), within the served limits or refused with one error line."""
    from keras_rnn.export.encoder_decoder import check_search_options

    max_length = module.max_steps if args.max_length is None else args.max_length
    check_search_options(args.beam_width, max_length, module.max_length_limit)
    return args.beam_width, max_length
