"""Char-LM quality on tiny Shakespeare (GUIDE §5): validation nats/char within a wall-clock budget.

    python benchmarks/charlm_quality.py [--minutes 60] [--data ../shared/data/tinyshakespeare/input.txt]

Trains with train.py (first 90% of characters for training, last 10% for
validation), then reports the best validation loss in nats/char and bits/char,
the epochs and the wall clock. Results: benchmarks/results/charlm_quality.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import save  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MODEL = [
    "--cell",
    "lstm",
    "--units",
    "512",
    "--layers",
    "2",
    "--embedding-dim",
    "64",
    "--dropout",
    "0.3",
    "--seq-len",
    "100",
    "--batch-size",
    "64",
    "--learning-rate",
    "2e-3",
    "--clipnorm",
    "5",
    "--precision",
    "mixed_bfloat16",
    "--patience",
    "4",
    "--reduce-lr-patience",
    "1",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60)
    # Paths relative to the project root (train.py runs there), so results name no machine paths.
    parser.add_argument("--data", default="../shared/data/tinyshakespeare/input.txt")
    parser.add_argument("--run-dir", default="runs/bench_charlm_quality")
    args = parser.parse_args()
    command = [
        sys.executable,
        "train.py",
        "--task",
        "charlm",
        "--text-file",
        args.data,
        "--epochs",
        "1000",
        "--max-minutes",
        str(args.minutes),
        "--run-dir",
        args.run_dir,
        *MODEL,
    ]
    started = time.monotonic()
    subprocess.run(command, cwd=ROOT, check=True)
    wall = time.monotonic() - started
    metrics = json.loads((ROOT / args.run_dir / "metrics.json").read_text())
    save(
        "charlm_quality",
        {
            "command": "python " + " ".join(Path(c).name if c == sys.executable else c for c in command[1:]),
            "data": "tiny Shakespeare, first 90% train / last 10% validation",
            "budget_minutes": args.minutes,
            "wall_clock_seconds_total": round(wall, 1),
            "epochs": metrics["epochs_run"],
            "best_epoch": metrics.get("best_epoch"),
            "best_val_loss_nats_per_char": metrics.get("best_val_loss"),
            "best_val_bits_per_char": metrics.get("best_val_bits_per_char"),
            "train_loss_at_best": metrics.get("best_loss"),
        },
    )


if __name__ == "__main__":
    main()
