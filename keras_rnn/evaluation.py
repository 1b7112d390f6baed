"""Scoring held-out data, the same way for every task that decodes or labels.

A task says *what* a score is: `score(model) -> {name: number}` (decode or label some
held-out data with the model and compare with the references); this module does the rest:

- `EvaluationCallback`: after each epoch, the validation scores printed and logged as
  `val_NAME`, so they reach the CSV log and can pick the checkpoint (`TrainingPlan.monitor`);
- `best_checkpoint_summary`: the `TrainingPlan.summary` that scores the best checkpoint (what
  export serves, not the last epoch's weights), and `test_entries`: its test scores as
  metrics.json holds them;
- `print_answers`: `predict.py`'s answer, one `input<TAB>output` line per input.

The encoder-decoder tasks' greedy decoding for these is `keras_rnn.export.encoder_decoder`'s.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from pathlib import Path

import keras


def format_scores(scores: dict, digits: int = 2) -> str:
    """`name value, ...` of the numbers in `scores` (strings such as sacrebleu's signatures left out)."""
    shown = {k: v for k, v in scores.items() if isinstance(v, numbers.Real) and not isinstance(v, bool)}
    return ", ".join(f"{k} {v:.{digits}f}" for k, v in shown.items())


class EvaluationCallback(keras.callbacks.Callback):
    """After each epoch: `score(model)` on held-out data, printed as `label: name value, ...` and
    logged as `{prefix}name` (nothing when it returns {}, e.g. an empty sample); the task's
    callbacks run before the checkpoint is written, so a logged score can pick it. At the end of
    training: `at_end(model)`, if given (e.g. attention maps)."""

    def __init__(
        self,
        score: Callable[[keras.Model], dict],
        label: str,
        prefix: str = "val_",
        digits: int = 2,
        at_end: Callable[[keras.Model], None] | None = None,
    ):
        super().__init__()
        self.score, self.label, self.prefix, self.digits, self.at_end = score, label, prefix, digits, at_end

    def on_epoch_end(self, epoch, logs=None):
        scores = self.score(self.model)
        if not scores:
            return
        print(f"\n{self.label}: {format_scores(scores, self.digits)}")
        if logs is not None:
            logs.update({f"{self.prefix}{k}": v for k, v in scores.items()})

    def on_train_end(self, logs=None):
        if self.at_end:
            self.at_end(self.model)


def best_checkpoint_summary(
    task, run_dir: Path, test: Callable[[keras.Model], dict], **known
) -> Callable[[dict], dict]:
    """A `TrainingPlan.summary`: the entries `known` before training, then `test(model)` of the
    run's best checkpoint (loaded as export loads it: `task.load(run_dir)`)."""

    def summary(metrics_so_far: dict) -> dict:
        return {**known, **test(task.load(run_dir).model)}

    return summary


def test_entries(
    count_name: str, count: int, scores: dict, examples: list, digits: int = 2, note: str = "", **more
) -> dict:
    """Test scores as metrics.json holds them: `count_name` (e.g. test_pairs), each score as
    `test_NAME`, the `more` entries, then a few `test_examples`; printed as `test: name value, ...`
    (followed by `note`)."""
    print(f"test: {format_scores(scores, digits)}{note}")
    return {
        count_name: count,
        **{f"test_{k}": v for k, v in scores.items()},
        **more,
        "test_examples": examples,
    }


def print_answers(inputs: list, answers) -> None:
    """`predict.py`'s answer: one `input<TAB>answer` line per input (bytes are read as UTF-8)."""
    for item, answer in zip(inputs, answers):
        text = answer.decode("utf-8") if isinstance(answer, bytes) else answer
        print(f"{item}\t{text}")
