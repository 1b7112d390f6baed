"""Seeing inside trained models, one command per kind of explanation:

    python -m keras_rnn.explain KIND [--run-dir RUN] [--out DIR] [options] [inputs ...]

Each KIND works on a finished run of the task it needs (`--run-dir`, default: the latest
finished run of that task) and writes `DIR/KIND.json` (its numbers) and its pictures into
`DIR` (default `explanations/KIND/`). With no inputs it takes a few examples from the run's
own validation data. Walk-through: docs/explain.md.
"""

from __future__ import annotations

import importlib

# kind -> (module, the task whose runs it reads, one line on what it shows); the module has
# add_arguments(parser) and run(run, args, out) -> dict
KINDS = {
    "cells": (
        "cells",
        "charlm",
        "which units of a char-LM track quotes, comments, brackets, indentation, line position",
    ),
    "saliency": (
        "saliency",
        "caption",
        "which pixels each caption word depends on (vanilla and guided backprop), feature maps; "
        "on classify runs: which time steps or tokens decided the label; on tag runs: which words "
        "decided a word's tag",
    ),
    "occlusion": (
        "occlusion",
        "caption",
        "how each word's probability drops under a grey patch; beside attention and saliency",
    ),
    "maximize": ("maximize", "caption", "images that maximise a word's score (gradient ascent, L2)"),
    "fool": ("fool", "caption", "the smallest change to an image that swaps one caption word"),
    "tsne": ("tsne", "caption", "t-SNE of image vectors, sentence summaries or char-LM states (--task)"),
}


def load(kind: str):
    return importlib.import_module(f"keras_rnn.explain.{KINDS[kind][0]}")


def symmetric_scale(values) -> float:
    """The colour scale ±S of a picture of `values`: their largest |value|, so a barely trained
    model's small numbers fill the colours instead of fading into white (1 if all are 0)."""
    import numpy as np

    largest = float(np.nanmax(np.abs(values))) if np.size(values) else 0.0
    return largest if largest > 0 else 1.0
