"""Training throughput on 1 vs N devices and in float32 vs mixed precision, on whatever is here.

    python benchmarks/distribute_speed.py [--steps 40] [--devices 2]

The char-LM with its defaults (LSTM 256 x 2, batch 64 x 100 characters) trained through
train.py: one device, then `--distribute mirrored` over every GPU (or, without GPUs, over
`--devices` logical CPU devices: the same code path, no added compute), each in float32 and in
mixed precision (mixed_float16 on GPUs, mixed_bfloat16 on CPUs). Steady-state characters per
second: two runs per setting, of 1 and 3 epochs of `--steps` steps, and the difference of
their training times (tracing and start-up cancel; validation is one batch). Results:
benchmarks/results/distribute_speed.json, with the hardware found.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import save  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def seconds(args: list[str], epochs: int, steps: int, out: Path) -> float:
    run_dir = out / f"run_{len(list(out.iterdir()))}"
    command = [sys.executable, "train.py", "--task", "charlm", "--epochs", str(epochs)]
    command += ["--steps-per-epoch", str(steps), "--validation-batches", "1", "--sample-length", "1"]
    command += ["--run-dir", str(run_dir), *args]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    return json.loads((run_dir / "metrics.json").read_text())["train_seconds_this_session"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--devices", type=int, default=2, help="logical CPU devices when there is no GPU")
    args = parser.parse_args()
    import tensorflow as tf

    gpus = len(tf.config.list_physical_devices("GPU"))
    mirrored = ["--distribute", "mirrored"] + ([] if gpus else ["--cpu-devices", str(args.devices)])
    mixed = "mixed_float16" if gpus else "mixed_bfloat16"
    settings = {
        "one device, float32": [],
        f"one device, {mixed}": ["--precision", mixed],
        "mirrored, float32": mirrored,
        f"mirrored, {mixed}": [*mirrored, "--precision", mixed],
    }
    characters = 2 * args.steps * 64 * 100  # the two extra epochs, default batch and length
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, extra in settings.items():
            short = seconds(extra, 1, args.steps, Path(tmp))
            long = seconds(extra, 3, args.steps, Path(tmp))
            results[name] = {"characters_per_second": round(characters / (long - short)), "extra_args": extra}
            print(f"{name:35} {results[name]['characters_per_second']:>8,} characters/s")
    save(
        "distribute_speed",
        {
            "command": f"python benchmarks/distribute_speed.py --steps {args.steps} --devices {args.devices}",
            "model": "char-LM defaults: LSTM 256 x 2, embedding 64, batch 64 x 100 characters",
            "gpus": gpus,
            "results": results,
        },
    )


if __name__ == "__main__":
    main()
