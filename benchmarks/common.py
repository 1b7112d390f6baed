"""Shared by the benchmark scripts: machine facts and saving results as JSON."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = RESULTS.parent.parent


def run_python(args: list, timeout: float = 7200) -> subprocess.CompletedProcess:
    """`python ARGS` in the project directory, its output captured; a failure ends the benchmark
    with the command's last output."""
    proc = subprocess.run(
        [sys.executable, *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode:
        raise SystemExit(f"{args[:3]} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return proc


def machine() -> dict:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import tensorflow as tf

    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "gpus": len(tf.config.list_physical_devices("GPU")),
        "load_average_1_5_15_min": [round(v, 2) for v in os.getloadavg()],  # when saved: a busy machine?
        "tensorflow": tf.__version__,
        "python": platform.python_version(),
    }


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent
        ).stdout.strip()
    except OSError:
        return "unknown"


def save(name: str, result: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    result = {
        "benchmark": name,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "machine": machine(),
        **result,
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(result, indent=2, ensure_ascii=False))
    print(f"saved {path}")
    return path


def round_robin_medians(variants: dict, repeats: int) -> dict:
    """Median seconds of each variant (a name -> a function to time). Round-robin: each repeat
    times every variant once, so a machine that slows down or speeds up mid-run shifts them all
    alike. One untimed warm-up call each first (tracing, compilation, allocation)."""
    for fn in variants.values():
        fn()
    times = {name: [] for name in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def train_variants(task: str, variants: dict[str, list[str]], parallel: bool) -> dict[str, tuple[list, dict]]:
    """Train each variant of `task` with train.py (its arguments given per variant); returns
    {name: (train.py command, the run's metrics.json)}. `parallel`: all at once, one core each,
    so equal wall-clock budgets stay equal on a busy machine."""
    import sys
    import tempfile

    env = dict(os.environ)
    if parallel:
        env.update(TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1")
    root = Path(__file__).resolve().parent.parent
    runs, results = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, arguments in variants.items():
            command = ["train.py", "--task", task, *arguments]
            run_dir = Path(tmp) / name
            process = subprocess.Popen(
                [sys.executable, *command, "--run-dir", str(run_dir)],
                cwd=root,
                env=env,
                stdout=subprocess.DEVNULL,
            )
            runs[name] = (command, run_dir, process)
            if not parallel:
                process.wait()
        for name, (command, run_dir, process) in runs.items():
            if process.wait():
                raise SystemExit(f"{name}: train.py failed (exit {process.returncode})")
            results[name] = (command, json.loads((run_dir / "metrics.json").read_text()))
    return results


def train_quietly(task: str, run_dir, *options: str) -> Path:
    """`python train.py --task TASK --run-dir RUN_DIR OPTIONS` from the project root, output hidden."""
    import sys

    command = [sys.executable, "train.py", "--task", task, "--run-dir", str(run_dir), *options]
    subprocess.run(command, cwd=Path(__file__).resolve().parent.parent, check=True, stdout=subprocess.DEVNULL)
    return Path(run_dir)
