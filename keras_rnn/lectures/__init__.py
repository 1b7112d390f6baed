"""The lectures' small, exact experiments, runnable one by one:

    python -m keras_rnn.lectures list
    python -m keras_rnn.lectures NAME [--out DIR] [options]

Each writes `DIR/NAME.json` (its numbers) and PNG pictures into `DIR` (default
`lectures/NAME/`) and prints a short summary; walk-through: docs/lectures.md. Built on the
project's layers, `model.fit` and plots, not as a second code base.
"""

from __future__ import annotations

import importlib

# name -> (module, one line on what it shows); the module has add_arguments(parser) and run(args, out)
EXPERIMENTS = {
    "hello": ("hello", "the slides' hello RNN: the scores table, a 3-unit Elman RNN, a memoryless one"),
    "min-char-rnn": (
        "min_char_rnn",
        "the lectures' 112-line NumPy character RNN, ported to Keras faithfully",
    ),
    "cells": (
        "cells",
        "the slides' LSTM, both GRUs (gru-z-keep, gru-z-new; were slides-gru-keep, slides-gru), "
        "peephole, coupled, MUT1-3, multiplicative: side by side on text",
    ),
    "gradient-flow": (
        "gradient_flow",
        "‖∂h_T/∂h_0‖ against T: linear, Elman (s = 0.5, 1, 1.5), LSTM, clipping",
    ),
    "esn-init": (
        "esn_init",
        "initialise like an echo state network, then train every connection with momentum",
    ),
    "binary-addition": (
        "binary_addition",
        "an RNN trained on 8-bit sums adds 32-bit numbers; a feed-forward net",
    ),
}


def load(name: str):
    return importlib.import_module(f"keras_rnn.lectures.{EXPERIMENTS[name][0]}")
