"""keras-rnn: classic recurrent networks on Keras 3 / TensorFlow.

This top-level module imports nothing heavy on purpose: `keras_rnn.litert_host`
must be importable in a process that has only numpy and ai_edge_litert.
"""

__version__ = "0.1.0"


class UserError(ValueError):
    """A problem with the user's input: printed as one line, with what to do."""


def report_errors(fn, also: tuple = ()) -> int:
    """Run `fn`; a UserError (or an error of a type in `also`) becomes one
    `error: ...` line on stderr and exit code 2, instead of a traceback."""
    import sys

    try:
        fn()
        return 0
    except (UserError, *also) as err:
        message = str(err) if not isinstance(err, KeyError) else (
            f"{err} is missing from a file the command read: give the files an export wrote")
        print(f"error: {' '.join(message.split())}", file=sys.stderr)
        return 2


# What loading a LiteRT model or its JSON raises for a missing, truncated or foreign file.
LITERT_LOAD_ERRORS = (OSError, ValueError, KeyError)
