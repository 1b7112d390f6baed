"""Run directories: where a run is written, which run a command uses, and loading a finished one.

Kept apart from `training` so that exporting and the per-task commands do not import
the fit loop. A run directory holds `config.json` (written first), `vocab.json` for
the tasks with a vocabulary, `model.keras`, logs, and `metrics.json` (written last:
its presence marks a finished run).
"""

from __future__ import annotations

import dataclasses
import json
import zipfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from keras_rnn import UserError, locks
from keras_rnn import config as config_lib
from keras_rnn.locks import LOCK_FILE

RUNS_ROOT = Path("runs")
MODEL_FILE = "model.keras"
METRICS_FILE = "metrics.json"
CONFIG_FILE = "config.json"
VOCAB_FILE = "vocab.json"  # the tasks with a vocabulary save it here
HISTORY_FILE = "history.csv"
BACKUP_DIR = "backup"


@dataclasses.dataclass
class Run:
    """A finished run, loaded: where export, prediction and evaluation start."""

    directory: Path
    config: Any
    model: Any  # the trained keras.Model (best checkpoint), float32 and off cuDNN (export.portable)
    vocab: Any = None  # the task's vocabulary, where it has one


def is_finished(run_dir: Path) -> bool:
    return (Path(run_dir) / METRICS_FILE).exists()


def has_started(run_dir: Path) -> bool:
    """Training began here: the CSV log (opened when fit starts) or a backup exists."""
    return (Path(run_dir) / HISTORY_FILE).exists() or (Path(run_dir) / BACKUP_DIR).exists()


def latest_run(task_name: str, root: Path | None = None, finished: bool = False) -> Path | None:
    """The task's most recently started (or resumed) run under `root` (by its config's time,
    whatever the directory is called); with `finished`, the most recent finished one."""
    runs = [
        p
        for p in (Path(root or RUNS_ROOT) / task_name).glob("*")
        if (p / CONFIG_FILE).exists() and (not finished or is_finished(p))
    ]
    return max(runs, key=lambda p: (p / CONFIG_FILE).stat().st_mtime) if runs else None


def resumable_run(task_name: str, cfg) -> Path | None:
    """The task's latest run, when it is unfinished and was started with these options."""
    previous = latest_run(task_name)
    if previous and not is_finished(previous):
        saved = _resumable_config(previous)
        if saved is not None and config_lib.normalized(saved, type(cfg)) == dataclasses.asdict(cfg):
            return previous
    return None


def prepare_run_dir(task_name: str, cfg, run_dir: str | None, fresh: bool = False) -> Path:
    """Pick the run directory: resume an interrupted run with the same config, else start anew."""
    wanted = dataclasses.asdict(cfg)
    if run_dir is None:
        previous = None if fresh else resumable_run(task_name, cfg)
        if previous:
            print(f"Resuming the interrupted run in {previous} (pass --fresh to start a new one)")
        run_dir = previous or RUNS_ROOT / task_name / datetime.now().strftime("%Y%m%d-%H%M%S")
        announced = previous is not None
    else:
        announced = False
    run_dir = Path(run_dir)
    for path in (run_dir, *run_dir.parents):
        if path.exists() and not path.is_dir():
            raise UserError(f"--run-dir {run_dir}: {path} is a file: give a new or empty directory")
    if is_finished(run_dir):
        raise UserError(
            f"{run_dir} already holds a finished run: pass another --run-dir, or delete that directory to train again"
        )
    if (
        _saved_config(run_dir) is None
        and run_dir.is_dir()
        and any(p.name != LOCK_FILE for p in run_dir.iterdir())
    ):
        raise UserError(
            f"{run_dir} is not empty and holds no run ({CONFIG_FILE}): "
            "pass a new or empty --run-dir, so nothing there is overwritten"
        )
    locks.hold(run_dir, "training")  # until this process ends: a second training here is refused
    saved = _saved_config(run_dir)
    if saved is not None and not has_started(run_dir):
        remove_setup_files(run_dir)  # set up but never trained (e.g. refused data): nothing to keep
        saved = None
    if saved is not None:  # an older run's config.json reads as options now would (config.normalized)
        saved = config_lib.normalized(saved, type(cfg))
    if saved is not None and saved != wanted:
        changed = sorted(k for k in wanted if saved.get(k) != wanted[k])
        raise UserError(
            f"{run_dir} holds an unfinished run with other options ({', '.join(changed)}): "
            "repeat that run's exact command to resume it, or pass another --run-dir"
        )
    if saved is not None and not announced:
        print(f"Resuming the interrupted run in {run_dir}")
    run_dir.mkdir(parents=True, exist_ok=True)
    config_lib.save(cfg, run_dir / CONFIG_FILE)
    return run_dir


def remove_setup_files(run_dir: Path) -> None:
    """Delete what a run writes before its first epoch (its config and vocabulary), nothing else."""
    for name in (CONFIG_FILE, VOCAB_FILE):
        (Path(run_dir) / name).unlink(missing_ok=True)


def load_or_build_vocabulary(run_dir: Path, vocab_cls, build: Callable[[], Any]):
    """The run's vocabulary: a resumed run keeps the one it saved; a new run builds it
    (from its training split) and saves it."""
    path = Path(run_dir) / VOCAB_FILE
    vocab = vocab_cls.load(path) if path.exists() else build()
    vocab.save(path)
    return vocab


def load_run(run_dir: Path, config_cls, vocab_cls=None) -> Run:
    """Config, vocabulary (for tasks with one) and trained Keras model of a run. The model is the
    portable copy (`keras_rnn.export.portable`): float32 and without cuDNN kernels, whatever
    precision it trained in and whatever devices this machine has, so what is exported, predicted
    and scored is the same everywhere."""
    import keras

    from keras_rnn.export.portable import portable_copy

    run_dir = Path(run_dir)
    cfg = read_run_file(run_dir / CONFIG_FILE, lambda path: config_lib.load(config_cls, path))
    vocab = read_run_file(run_dir / VOCAB_FILE, vocab_cls.load) if vocab_cls is not None else None
    model = read_run_file(run_dir / MODEL_FILE, lambda path: keras.saving.load_model(path, compile=False))
    return Run(run_dir, cfg, portable_copy(model), vocab)


# What reading a damaged run file raises: a model.keras cut short (not a zip file), a JSON file
# broken, not UTF-8, 100,000 arrays deep, or holding other entries or types than a run writes
DAMAGED = (OSError, EOFError, zipfile.BadZipFile, ValueError, TypeError, KeyError, IndexError, AttributeError)


def read_run_file(path: Path, read: Callable[[Path], Any]):
    """`read(path)`, or a UserError naming the file and what is wrong with it."""
    try:
        return read(path)
    except (*DAMAGED, RecursionError) as err:
        detail = f"missing entry {err}" if isinstance(err, KeyError) else " ".join(str(err).split())[:200]
        raise UserError(
            f"{path} is damaged or not what a finished run writes ({type(err).__name__}: {detail}): "
            "restore it, or train the run again"
        ) from None


def _resumable_config(run_dir: Path):
    try:
        return _saved_config(run_dir)
    except UserError:  # not a run after all: never resumed, and a new run goes elsewhere
        return None


def _saved_config(run_dir: Path):
    """The options a run directory was made with; None where there is no config.json."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.exists():
        return None
    try:
        saved = json.loads(path.read_text())
    except (ValueError, OSError):
        saved = None
    if not isinstance(saved, dict) or not {"epochs", "batch_size", "seed"} <= set(saved):
        raise UserError(
            f"{path} is not the config of a keras-rnn run: pass a new or empty --run-dir, "
            "so nothing there is overwritten"
        )
    return saved


def finished_run(task_name: str, run_dir=None) -> Path:
    """`run_dir`, or else the latest finished run of the task; refuses a run without a
    finished model, or one of another task."""
    if run_dir is None:
        run_dir = latest_run(task_name, finished=True)
        if run_dir is None:
            raise UserError(
                f"no finished {task_name} run under {RUNS_ROOT}/ yet: "
                f"train one first (python train.py --task {task_name})"
            )
        newest = latest_run(task_name)
        if newest != run_dir:
            print(f"Using {run_dir}, the latest finished {task_name} run ({newest} is not finished)")
    return require_finished_run(run_dir, task_name)


def require_finished_run(run_dir: Path, task_name: str | None = None) -> Path:
    run_dir = Path(run_dir)
    if not (run_dir / MODEL_FILE).exists() or not is_finished(run_dir):
        raise UserError(
            f"{run_dir} has no finished model (no {MODEL_FILE} and {METRICS_FILE}): "
            "finish training there first (re-running the same train command resumes it)"
        )
    trained_task = trained_task_of(run_dir)
    if task_name and trained_task and trained_task != task_name:
        raise UserError(
            f"{run_dir} is a {trained_task} run, not {task_name}: pass --task {trained_task} "
            f"or a {task_name} run's directory"
        )
    return run_dir


def trained_task_of(run_dir) -> str | None:
    """The task a finished run trained (its metrics.json says); None where it cannot tell."""
    try:
        return json.loads((Path(run_dir) / METRICS_FILE).read_text()).get("task")
    except (ValueError, OSError, AttributeError):
        return None
