"""keras-rnn: classic recurrent networks on Keras 3 / TensorFlow.

This top-level module imports nothing heavy on purpose: `keras_rnn.litert_host`
must be importable in a process that has only numpy and ai_edge_litert.
"""

__version__ = "0.1.0"


class UserError(ValueError):
    """A problem with the user's input: printed as one line, with what to do."""
