"""Export, shared by all tasks: a task describes its endpoints in a `ServingSpec`;
`keras_rnn.export.writer` turns any spec into a TF Serving version directory
and LiteRT files, the same way for every task."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import tensorflow as tf


@dataclasses.dataclass
class ServingSpec:
    name: str  # model name in TF Serving (and directory name)
    module: Any  # tf.Module holding every variable and lookup table used
    endpoints: dict[
        str, tuple[Callable, list]
    ]  # signature name -> (function, input TensorSpecs); first = serving_default
    litert: dict[str, tuple[Callable, list]]  # .tflite name -> (function, fixed-shape TensorSpecs)
    metadata: dict  # JSON written beside the .tflite files and in assets.extra/
    example: dict | None = None  # a TF Serving REST body for the first endpoint (printed after export)


def request_signature(batch: str, **options: tf.DType) -> list[tf.TensorSpec]:
    """A served signature's inputs: a batch of strings named `batch` ([None]; raw text, or encoded
    images), then one scalar per option, in order (e.g. `beam_width=tf.int32`)."""
    scalars = [tf.TensorSpec([], dtype, name=name) for name, dtype in options.items()]
    return [tf.TensorSpec([None], tf.string, name=batch), *scalars]


def finite_check(name: str, tensor):
    """An assert (for `after_checks`) that a served input holds no NaN or inf."""
    return tf.debugging.assert_all_finite(tensor, message=f"{name} must hold finite numbers (no NaN or inf)")


def after_checks(checks: list, *tensors):
    """`tensors`, made to wait for `checks` (tf.debugging asserts) inside served graphs.

    In a graph an assert runs in no particular order with ops that do not depend
    on it, so a bad request could fail first with an obscure error from a later op
    (e.g. an empty TensorArray) instead of the assert's message.
    """
    with tf.control_dependencies(checks):
        return [tf.identity(t) for t in tensors]
