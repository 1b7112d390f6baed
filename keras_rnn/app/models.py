"""The exported SavedModels the app serves, found and reloaded as TF Serving does.

Under `--models` (export.py's `--out`), each task's directory holds numbered versions; the
newest complete one is served (export.py publishes a version by one rename, so a numeric
directory is always complete). Every request asks for its model by task name: when a newer
version has appeared since the last request, it is loaded then (no restart) and the old one
is dropped once nobody uses it. Models are loaded with `tf.saved_model.load` and called only
through their signatures: TensorFlow alone, as TF Serving does.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path

import tensorflow as tf

# Each task the app has a panel for: the signature the panel calls, and how to export one.
TASKS = {
    "charlm": "step",
    "translate": "translate",
    "caption": "caption",
    "esn": "generate",
    "classify": "classify",
    "tag": "tag",
}


class ModelMissing(LookupError):
    """No exported version of the task under --models (the message says how to export one)."""


def export_command(task: str) -> str:
    return f"python train.py --task {task} && python export.py --task {task}"


@dataclasses.dataclass
class Served:
    task: str
    version: int
    path: Path
    signatures: dict  # name -> concrete function
    metadata: dict  # assets.extra/metadata.json (vocabulary, sizes)


def newest_version(root: Path, task: str) -> Path | None:
    directory = root / task
    if not directory.is_dir():
        return None
    versions = [p for p in directory.iterdir() if p.name.isdigit() and (p / "saved_model.pb").exists()]
    return max(versions, key=lambda p: int(p.name), default=None)


class ModelStore:
    """Task name -> the newest exported version, loaded on first use and reloaded when a newer
    version appears. Thread-safe: requests run in worker threads."""

    def __init__(self, root):
        self.root = Path(root)
        self._loaded: dict[str, Served] = {}
        self._locks = {task: threading.Lock() for task in TASKS}

    def get(self, task: str) -> Served:
        path = newest_version(self.root, task)
        if path is None:
            raise ModelMissing(
                f"no exported {task} model under {self.root}/: export one with `{export_command(task)}`"
            )
        with self._locks[task]:  # one load per new version, however many requests wait for it
            served = self._loaded.get(task)
            if served is None or served.path != path:
                served = self._loaded[task] = load(task, path)
        return served

    def listing(self) -> list[dict]:
        """What the page shows: per task, the served version and what its panel needs, or how to
        export it. A version that fails to load is reported, not raised."""
        out = []
        for task in TASKS:
            try:
                served = self.get(task)
                out.append({"task": task, "version": served.version, "info": panel_info(served)})
            except ModelMissing as missing:
                out.append({"task": task, "missing": str(missing), "command": export_command(task)})
            except Exception as error:  # a broken or foreign directory: say so on the page
                out.append({"task": task, "missing": f"could not load {task}: {first_line(error)}"})
        return out


def load(task: str, path: Path) -> Served:
    model = tf.saved_model.load(str(path))
    if TASKS[task] not in model.signatures:
        raise ValueError(f"{path} has no `{TASKS[task]}` signature: is it a {task} export?")
    metadata_file = path / "assets.extra" / "metadata.json"
    metadata = json.loads(metadata_file.read_text(encoding="utf-8")) if metadata_file.exists() else {}
    served = Served(task, int(path.name), path, dict(model.signatures), metadata)
    served.model = model  # keeps the variables alive as long as the signatures are used
    return served


def panel_info(served: Served) -> dict:
    """The metadata a panel shows or needs (sizes, labels), never the whole vocabulary."""
    meta = served.metadata
    keys = {
        "charlm": ("cell", "layers", "units", "state_size"),
        "translate": ("level", "cell", "attention", "max_target_len"),
        "caption": ("cell", "attention", "image_size", "grid", "max_caption_len"),
        "esn": ("units", "features", "series", "values"),
        "classify": ("kind", "model", "labels", "features", "length"),
    }.get(served.task, ())
    return {k: meta[k] for k in keys if k in meta}


def first_line(error: Exception) -> str:
    """A TensorFlow error's own message (an assert's text), without the graph trace under it."""
    text = getattr(error, "message", None) or str(error)
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0][:300] if lines else type(error).__name__
