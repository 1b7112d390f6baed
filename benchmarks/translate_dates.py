"""Dates task (issue 3): test-set exact match with Bahdanau attention vs the classic
encoder-decoder of the same size (`--attention none`), greedy decoding.

    python benchmarks/translate_dates.py [--epochs 20] [--attention bahdanau none]

Each model is trained with train.py (10,000 generated training dates; validation
and test: 1,000 each from their own seeds); the test scores are those train.py
writes to metrics.json for the best checkpoint. Results: benchmarks/results/translate_dates.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, machine  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--units", type=int, default=64)
    parser.add_argument("--attention", nargs="+", default=["bahdanau", "none"])
    args = parser.parse_args()
    results = {}
    for attention in args.attention:
        with tempfile.TemporaryDirectory() as tmp:
            run_dir = Path(tmp) / "run"
            command = [sys.executable, "train.py", "--run-dir", str(run_dir), "--task", "translate",
                       "--attention", attention, "--epochs", str(args.epochs), "--units", str(args.units),
                       "--patience", str(args.epochs)]
            started = time.monotonic()
            subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
            metrics = json.loads((run_dir / "metrics.json").read_text())
        results[attention] = {"command": " ".join(["python", command[1]] + command[4:]),
                              "wall_seconds": round(time.monotonic() - started, 1),
                              **{k: metrics[k] for k in ("epochs_run", "best_epoch", "test_exact_match",
                                                         "test_bleu", "test_chrf", "best_val_loss")}}
        print(attention, results[attention], flush=True)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "translate_dates.json"
    path.write_text(json.dumps({"benchmark": "translate_dates", "date": time.strftime("%Y-%m-%d %H:%M"),
                                "machine": machine(), "epochs": args.epochs, "units": args.units,
                                "results": results}, indent=2) + "\n")
    print(f"saved {path}")


if __name__ == "__main__":
    main()
