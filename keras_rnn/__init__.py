"""keras-rnn: classic recurrent networks on Keras 3 / TensorFlow.

This top-level module imports nothing heavy on purpose: `keras_rnn.hosts`
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
        print(f"error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2


def command_line_text(text: str, what: str) -> str:
    """`text` from the command line, or a UserError where it is not UTF-8: Python reads such bytes
    of argv as lone surrogates (os.fsdecode), which no model input or printed answer can hold."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise UserError(f"{what} is not UTF-8 text: give it in UTF-8") from None
    return text


def write_atomically(path, text: str) -> None:
    """Write `text` to `path` under a temporary name, then rename it into place: a process killed
    at any moment leaves the old file or the new one, never half of one."""
    import os
    from pathlib import Path

    temporary = Path(f"{path}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def output_directory(path, flag: str):
    """`path` as a directory to write into (made when missing); a UserError if a file is there."""
    from pathlib import Path

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{flag} {path} is a file, not a directory: give a directory to write into")
    path.mkdir(parents=True, exist_ok=True)
    return path
