"""Reference LiteRT host loops: what an app does with the exported .tflite files.

Everything in this package imports only numpy, ai_edge_litert (and Pillow for images),
never TensorFlow: it runs where only the LiteRT runtime is (the tests check).
"""

from __future__ import annotations

from keras_rnn import UserError


def load_litert(host_cls, *args, **kwargs):
    """`host_cls(*args)`, with what loading a missing, truncated or foreign .tflite or JSON
    raises turned into a UserError that says what to give."""
    try:
        return host_cls(*args, **kwargs)
    except (OSError, ValueError, KeyError) as err:
        detail = f"missing entry {err}" if isinstance(err, KeyError) else str(err)
        raise UserError(
            f"cannot load the LiteRT model from {', '.join(map(str, args))} ({detail}): give what "
            "export.py wrote (saved_models/litert/TASK/VERSION/)"
        ) from None
