"""Export, shared by all tasks: a task describes its endpoints in a `ServingSpec`;
`keras_rnn.export.writer` turns any spec into a TF Serving version directory
and LiteRT files, the same way for every task."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable


@dataclasses.dataclass
class ServingSpec:
    name: str                     # model name in TF Serving (and directory name)
    module: Any                   # tf.Module holding every variable and lookup table used
    endpoints: dict[str, tuple[Callable, list]]   # signature name -> (function, input TensorSpecs); first = serving_default
    litert: dict[str, tuple[Callable, list]]      # .tflite name -> (function, fixed-shape TensorSpecs)
    metadata: dict                # JSON written beside the .tflite files and in assets.extra/
    example: dict | None = None   # a TF Serving REST body for the first endpoint (printed after export)
