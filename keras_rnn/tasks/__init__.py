"""Task registry: one module per model family, looked up by `--task NAME`
(the interface they implement: `keras_rnn.tasks.base.Task`)."""

from __future__ import annotations

import importlib

# name -> module holding `TASK` (imported lazily: each pulls in TensorFlow)
_MODULES = {
    "caption": "keras_rnn.tasks.caption",
    "charlm": "keras_rnn.tasks.charlm",
    "classify": "keras_rnn.tasks.classify",
    "esn": "keras_rnn.tasks.esn",
    "tag": "keras_rnn.tasks.tag",
    "translate": "keras_rnn.tasks.translate",
}

NAMES = sorted(_MODULES)


def get(name: str):
    if name not in _MODULES:
        raise KeyError(f"unknown task {name!r}; known: {', '.join(NAMES)}")
    return importlib.import_module(_MODULES[name]).TASK
