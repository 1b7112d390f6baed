"""Reference LiteRT host loops: what an app does with the exported .tflite files.

Everything in this package imports only numpy, ai_edge_litert (and Pillow for images),
never TensorFlow: it runs where only the LiteRT runtime is (the tests check).
"""

from __future__ import annotations

import json
from pathlib import Path

from keras_rnn import UserError, command_line_text


def load_litert(host_cls, *args, **kwargs):
    """`host_cls(*args)`, with what loading a missing, truncated or foreign .tflite or JSON
    raises turned into a UserError that says what to give."""
    try:
        return host_cls(*args, **kwargs)
    except (OSError, ValueError, KeyError, TypeError) as err:
        detail = f"missing entry {err}" if isinstance(err, KeyError) else str(err)
        raise UserError(
            f"cannot load the LiteRT model from {', '.join(map(str, args))} ({detail}): give what "
            "export.py wrote (saved_models/litert/TASK/VERSION/)"
        ) from None


def read_metadata(path, task: str, required: dict) -> dict:
    """`TASK.json` as export.py wrote it: a JSON object of `task`'s export holding each required
    key with a value of its type (non-empty where it is a list); a ValueError saying what is
    wrong otherwise (another task's file, a hand-edited one)."""
    try:
        meta = json.loads(Path(path).read_text(encoding="utf-8"))
    except RecursionError:
        raise ValueError(f"{path} is not an export's metadata (arrays or objects nested too deep)") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{path} is not an export's metadata (not a JSON object)")
    if meta.get("task", task) != task:
        raise ValueError(f"{path} describes a {meta['task']} model, not {task}")
    for key, kind in required.items():
        value = meta.get(key)
        if not isinstance(value, kind) or isinstance(value, bool) or (isinstance(value, list) and not value):
            wanted = f"{'non-empty ' if kind is list else ''}{kind.__name__}"
            raise ValueError(f"{path}: '{key}' is missing or not a {wanted}")
    return meta


def require_signature(runner, names: set, what: str, meta: dict) -> dict:
    """The input indices of a signature runner that has exactly the inputs `names`, its `state`
    as wide as the metadata's `state_size` (a ValueError saying which differs otherwise)."""
    details = runner.get_input_details()
    if set(details) != names:
        raise ValueError(f"{what} takes {sorted(details)}, not {sorted(names)}: a model of another task?")
    state_size = int(details["state"]["shape"][-1])
    if state_size != meta["state_size"]:
        raise ValueError(f"the metadata says state_size {meta['state_size']}, {what} has {state_size}")
    return {name: d["index"] for name, d in details.items()}


def check_text(text: str) -> None:
    """A UserError for a text the SavedModel would refuse: not UTF-8 (a command line's stray
    bytes), or over `limits.MAX_TEXT_CHARS` characters."""
    from keras_rnn.limits import MAX_TEXT_CHARS

    command_line_text(text, f"the text {text!r}")
    if len(text) > MAX_TEXT_CHARS:
        raise UserError(f"a text of {len(text):,} characters: at most {MAX_TEXT_CHARS:,}")


# The metadata checked against the model it names: a hand-edited or mixed-up file is an error
# here, not an IndexError or a LiteRT RESHAPE failure in the middle of decoding.
def require_shape(what: str, details: dict, wanted: list) -> None:
    shape = [int(n) for n in details["shape"]]
    if shape != wanted:
        raise ValueError(f"{what} has shape {shape}, the metadata says {wanted}")


def require_tokens(meta: dict, path, key: str, size: int) -> None:
    """`meta[key]` lists `size` strings: the model's tokens, one per id."""
    tokens = meta[key]
    if len(tokens) != size or not all(isinstance(t, str) for t in tokens):
        raise ValueError(
            f"{path}: '{key}' must list the model's {size:,} tokens as strings ({len(tokens):,} entries)"
        )


def require_ids(meta: dict, path, size: int, *keys: str) -> None:
    """Each `meta[key]` is an id in [0, size)."""
    for key in keys:
        value = meta.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < size:
            raise ValueError(f"{path}: '{key}' must be an id in [0, {size:,}), not {value!r}")
