"""Interpretable cells on the default corpus: which units of a trained char-LM track quotes and indentation.

    python benchmarks/explain_cells.py [--minutes 45] [--run-dir runs/bench_explain_cells]

Trains the char-LM with its defaults (LSTM 256 x 2 on the Python standard library's source)
for a wall-clock budget, then runs `python -m keras_rnn.explain cells` on 5,000 characters of
the run's validation text: once colouring the unit most correlated with "inside a string", once
the unit most correlated with the indentation depth. Copies the two pictures to docs/images/.
Results: benchmarks/results/explain_cells.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import save  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "docs" / "images"


def explain(run_dir: str, out: str, *extra: str) -> dict:
    command = [sys.executable, "-m", "keras_rnn.explain", "cells", "--run-dir", run_dir, "--out", out, *extra]
    subprocess.run(command, cwd=ROOT, check=True)
    return json.loads((ROOT / out / "cells.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=45)
    parser.add_argument("--run-dir", default="runs/bench_explain_cells")
    parser.add_argument("--skip-training", action="store_true", help="explain the finished run as it is")
    args = parser.parse_args()
    train = [sys.executable, "train.py", "--task", "charlm", "--epochs", "1000"]
    train += ["--max-minutes", str(args.minutes), "--run-dir", args.run_dir]
    started = time.monotonic()
    if not args.skip_training:
        subprocess.run(train, cwd=ROOT, check=True)
    wall = time.monotonic() - started
    metrics = json.loads((ROOT / args.run_dir / "metrics.json").read_text())
    quotes = explain(args.run_dir, "explanations/bench_quotes")
    indent_unit = quotes["top_units"]["indent_depth"][0]["unit"]
    explain(args.run_dir, "explanations/bench_indent", "--unit", indent_unit)
    IMAGES.mkdir(exist_ok=True)
    pictures = {
        "explain_cells_quotes.png": "explanations/bench_quotes/cells.png",
        "explain_cells_indent.png": "explanations/bench_indent/cells.png",
        "explain_cells_saturation.png": "explanations/bench_quotes/saturation.png",
    }
    for name, source in pictures.items():
        shutil.copyfile(ROOT / source, IMAGES / name)
    save(
        "explain_cells",
        {
            "command": "python " + " ".join(Path(c).name if c == sys.executable else c for c in train[1:]),
            "explain": "python -m keras_rnn.explain cells --run-dir RUN (then --unit <best indent_depth unit>)",
            "data": "the Python standard library's source (the default corpus); 5,000 validation characters read",
            "budget_minutes": args.minutes,
            "wall_clock_seconds_training": round(wall, 1),
            "epochs": metrics["epochs_run"],
            "best_val_loss_nats_per_char": metrics.get("best_val_loss"),
            "replay_max_logit_difference": quotes["replay_max_logit_difference"],
            "top_units": quotes["top_units"],
            "gate_saturation": quotes.get("gate_saturation"),
            "pictures": [f"docs/images/{name}" for name in pictures],
        },
    )


if __name__ == "__main__":
    main()
