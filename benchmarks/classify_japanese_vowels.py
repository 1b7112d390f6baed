"""Side by side on Japanese Vowels (GUIDE §5, sequence classification): this project's classifiers,
trained as a user would (`python train.py --task classify ...`, the defaults first), next to the
peers of `benchmarks/classify_peers.py` (reservoirpy's ESN recipe, aeon's MiniRocket), over the same
seeds, on the standard split: 270 training utterances (a stratified 10% of them picks our
checkpoints), 370 test utterances, scored once.

For each of our variants and seeds: test errors and accuracy from `metrics.json`, training time (the
`fit`, and the whole command); for seed 0, the run is exported and the SavedModel's `classify`
signature, fed the test file's raw series in a fresh process, must give the labels metrics.json
counts. Means and worst over the seeds; JSON in benchmarks/results/.

    .venv/bin/python benchmarks/classify_japanese_vowels.py --seeds 10 \\
        --train ../shared/data/japanese-vowels/JapaneseVowels_TRAIN.ts \\
        --test ../shared/data/japanese-vowels/JapaneseVowels_TEST.ts
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from benchmarks.common import run_python, save  # noqa: E402
from keras_rnn.data import labelled  # noqa: E402

VARIANTS = {"defaults": "", "rnn": "--model rnn"}  # the defaults: the ESN for series
SERVE = r"""
import json, sys
sys.modules["keras"] = sys.modules["keras_rnn"] = None
import numpy as np, tensorflow as tf
series, lengths = np.load(sys.argv[2]), np.load(sys.argv[3])
out = tf.saved_model.load(sys.argv[1]).signatures["classify"](series=tf.constant(series), lengths=tf.constant(lengths))
print(json.dumps([label.decode() for label in out["label"].numpy()]))
"""


def ours(name: str, options: str, train: str, test: str, seed: int, work: Path, check_export: bool) -> dict:
    run_dir = work / f"{name}-{seed}"
    started = time.perf_counter()
    command = ["train.py", "--task", "classify", "--train-file", train, "--test-file", test, "--seed", seed]
    run_python([*command, *shlex.split(options), "--run-dir", run_dir])
    seconds = time.perf_counter() - started
    metrics = json.loads((run_dir / "metrics.json").read_text())
    result = {
        "errors": metrics["test_errors"],
        "accuracy": metrics["test_accuracy"],
        "fit_seconds": metrics["train_seconds_this_session"],
        "command_seconds": round(seconds, 1),
        "epochs_run": metrics["epochs_run"],
        "best_epoch": metrics.get("best_epoch"),
    }
    if check_export:
        run_python(
            [
                "export.py",
                "--task",
                "classify",
                "--run-dir",
                run_dir,
                "--out",
                work / "exported",
                "--no-sample",
            ]
        )
        version = max((work / "exported" / "classify").iterdir(), key=lambda p: int(p.name))
        data = labelled.read_labelled_series(test)
        series = np.zeros((len(data), int(data.lengths.max()), data.features), np.float32)
        for i, s in enumerate(data.series):
            series[i, : len(s)] = s
        np.save(work / "series.npy", series)
        np.save(work / "lengths.npy", data.lengths.astype(np.int32))
        served = json.loads(
            run_python(["-c", SERVE, version, work / "series.npy", work / "lengths.npy"])
            .stdout.strip()
            .splitlines()[-1]
        )
        result["served_errors"] = sum(p != t for p, t in zip(served, data.labels))
        result["served_matches_metrics"] = result["served_errors"] == metrics["test_errors"]
    return result


def summary(runs: list[dict]) -> dict:
    errors = [r["errors"] for r in runs]
    return {
        "errors_mean": float(np.mean(errors)),
        "errors_worst": int(max(errors)),
        "accuracy_mean": float(np.mean([r["accuracy"] for r in runs])),
        "accuracy_worst": float(min(r["accuracy"] for r in runs)),
        "fit_seconds_median": float(np.median([r["fit_seconds"] for r in runs])),
        "fit_seconds_worst": float(max(r["fit_seconds"] for r in runs)),
        "runs": runs,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", required=True)
    parser.add_argument("--test", required=True)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        help='NAME="train.py options" (default: the defaults and --model rnn)',
    )
    parser.add_argument("--peers", nargs="*", default=["esn_last_state", "esn_last_state_cv", "minirocket"])
    parser.add_argument("--name", default="classify_japanese_vowels")
    args = parser.parse_args()
    variants = dict(v.split("=", 1) for v in args.variant) if args.variant else VARIANTS
    seeds = list(range(args.seeds))
    results = {}
    with tempfile.TemporaryDirectory(prefix="classify-bench-") as tmp:
        for name, options in variants.items():
            runs = []
            for seed in seeds:
                runs.append(
                    ours(name, options, args.train, args.test, seed, Path(tmp), check_export=seed == 0)
                )
                print(f"{name} seed {seed}: {runs[-1]}", flush=True)
            results[name] = {"options": options, **summary(runs)}
    if args.peers:
        from benchmarks.classify_peers import run_peer

        train, test = labelled.read_labelled_series(args.train), labelled.read_labelled_series(args.test)
        for name in args.peers:
            results[name] = run_peer(name, train, test, seeds)
    print(f"\n{'':22s} errors mean / worst | accuracy mean / worst | fit s (median)")
    for name, r in results.items():
        print(
            f"{name:22s} {r['errors_mean']:5.1f} / {r['errors_worst']:3d}    | {r['accuracy_mean']:.4f} / "
            f"{r['accuracy_worst']:.4f}     | {r['fit_seconds_median']:.2f}"
        )
    save(
        args.name,
        {
            "command": "python benchmarks/classify_japanese_vowels.py " + " ".join(sys.argv[1:]),
            "data": {"train": Path(args.train).name, "test": Path(args.test).name, "split": "standard (UCI)"},
            "seeds": seeds,
            "results": results,
        },
    )


if __name__ == "__main__":
    main()
