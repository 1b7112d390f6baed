"""Corpora and tf.data pipelines."""

from __future__ import annotations

from pathlib import Path

from keras_rnn import UserError


def require_file(path, wanted: str) -> Path:
    """`path` as a Path, or a UserError saying it is a directory or missing, and what to give."""
    path = Path(path)
    if not path.is_file():
        problem = "is a directory" if path.is_dir() else "no such file"
        raise UserError(f"{path}: {problem}; give {wanted}")
    return path
