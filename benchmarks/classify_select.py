"""How the classify defaults were chosen: cross-validation on the Japanese Vowels TRAINING file only
(GUIDE §5: the test file is never used to pick anything). Stratified k-fold splits of the 270
training utterances, repeated over split seeds; each candidate's score is its count of held-out
errors summed over the folds (one repeat scores each utterance once), mean over the repeats.

- `esn`: the reservoir states of all training series are computed once per reservoir (the
  project's `Reservoir` layer on the series standardised by the training file's statistics), then
  each fold's ridge readout (`[1, x]`, alpha on every weight, float64, as `RidgeReadout`) is a
  NumPy solve: a grid over pooled features, committees and alpha costs seconds.
- `rnn`: each candidate is `python train.py --task classify --model rnn` options, run in-process on each fold
  (the fold's training part as --train-file, its held-out part as --test-file: `test_errors`).

    .venv/bin/python benchmarks/classify_select.py esn --train ../shared/data/japanese-vowels/JapaneseVowels_TRAIN.ts
    .venv/bin/python benchmarks/classify_select.py rnn --train ../shared/data/japanese-vowels/JapaneseVowels_TRAIN.ts \\
        --candidate base="" --candidate all="--validation-share 0"
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
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

from benchmarks.common import save  # noqa: E402
from keras_rnn.data import labelled  # noqa: E402


def folds(labels: list[str], k: int, seed: int) -> list[np.ndarray]:
    """k stratified folds (index arrays): each class's members dealt round-robin in a seeded order."""
    rng, out, dealt = np.random.default_rng(seed), [[] for _ in range(k)], 0
    for label in sorted(set(labels)):
        for i in rng.permutation([i for i, y in enumerate(labels) if y == label]):
            out[dealt % k].append(int(i))
            dealt += 1
    return [np.array(sorted(f)) for f in out]


# ---------------------------------------------------------------- esn
def reservoir_states(data, mean, std, reversed_: bool, **reservoir) -> np.ndarray:
    """States [N, T, U] of the standardised series (padded at the end; a reversed series is reversed
    within its length, so its states too are causal and the padding comes after)."""
    from keras_rnn.layers.reservoir import Reservoir

    x = np.zeros((len(data), int(data.lengths.max()), data.features), np.float32)
    for i, s in enumerate(data.series):
        x[i, : len(s)] = ((s[::-1] if reversed_ else s) - mean) / std
    return np.asarray(Reservoir(**reservoir, return_sequences=True)(x))


def pooled(states: np.ndarray, lengths: np.ndarray, what: str, points: int) -> np.ndarray:
    last = lengths - 1
    rows = np.arange(len(states))
    parts = []
    if "mean" in what:
        mask = np.arange(states.shape[1])[None, :] < lengths[:, None]
        parts.append((states * mask[..., None]).sum(1) / lengths[:, None])
    if "points" in what:
        fractions = np.linspace(0, 1, points) if points > 1 else np.ones(1)
        index = np.round(last[:, None] * fractions[None, :]).astype(int)
        parts.append(states[rows[:, None], index].reshape(len(states), -1))
    if what == "last":
        parts.append(states[rows, last])
    return np.concatenate(parts, axis=1).astype(np.float64)


def ridge_scores(gram, y, train, held, alpha: float) -> np.ndarray:
    """The ridge readout's scores on the `held` sequences, fitted on `train`, from the Gram matrix
    of their pooled states (`gram[i, j] = x_i . x_j`), in the dual form (fewer sequences than
    features): (X'X + aI)^-1 X' = X' (XX' + aI)^-1 with X = [1, x], the same weights as
    `RidgeReadout` (alpha on every weight). A joint readout over several members' states has the
    sum of their Gram matrices."""
    k = gram + 1.0
    dual = np.linalg.solve(k[np.ix_(train, train)] + alpha * np.eye(len(train)), y[train])
    return k[np.ix_(held, train)] @ dual


def select_esn(args) -> dict:
    data = labelled.read_labelled_series(args.train)
    labels = labelled.classes(data)
    y = np.array([labels.index(label) for label in data.labels])
    onehot = np.eye(len(labels))[y]
    mean, std = labelled.standardisation(data)
    splits = [folds(data.labels, args.folds, seed) for seed in range(args.repeats)]
    grid = {
        "units": [int(u) for u in args.units],
        "leak_rate": [float(v) for v in args.leak],
        "input_scaling": [float(v) for v in args.input_scaling],
        "spectral_radius": [float(v) for v in args.spectral_radius],
        "bias_scaling": [float(v) for v in args.bias_scaling],
        "connectivity": [float(v) for v in args.connectivity],
        "both_ways": [False, True] if args.both_ways else [False],
    }
    results = []
    for values in itertools.product(*grid.values()):
        cand = dict(zip(grid, values))
        feats = {}  # member -> pooling -> Gram matrix
        started = time.perf_counter()
        for member in range(max(args.committee)):
            reservoir = {k: v for k, v in cand.items() if k != "both_ways"}
            ways = [False, True] if cand["both_ways"] else [False]
            states = [reservoir_states(data, mean, std, way, **reservoir, seed=member) for way in ways]
            feats[member] = {}  # pooling -> Gram matrix of the pooled states
            for pool in args.pooling:
                x = np.concatenate([pooled(s, data.lengths, pool, args.points) for s in states], 1)
                feats[member][pool] = x @ x.T
        seconds = (time.perf_counter() - started) / max(args.committee)
        readouts = ["own", "joint"] if args.joint else ["own"]
        for pool, committee, alpha, readout in itertools.product(
            args.pooling, args.committee, args.alpha, readouts
        ):
            if readout == "joint" and committee == 1:
                continue
            errors = []
            for split in splits:
                wrong = 0
                for held in split:
                    train = np.setdiff1d(np.arange(len(y)), held)
                    total = 0
                    if readout == "joint":  # one readout over every member's states
                        gram = sum(feats[m][pool] for m in range(committee))
                        total = ridge_scores(gram, onehot, train, held, alpha)
                    for member in range(0 if readout == "joint" else committee):  # own readouts, averaged
                        total = total + ridge_scores(feats[member][pool], onehot, train, held, alpha)
                    wrong += int((total.argmax(1) != y[held]).sum())
                errors.append(wrong)
            row = {
                **cand,
                "pooling": pool,
                "committee": committee,
                "readout": readout,
                "alpha": alpha,
                "cv_errors_mean": float(np.mean(errors)),
                "cv_errors": errors,
                "states_seconds_per_member": round(seconds, 2),
            }
            results.append(row)
            print(json.dumps(row), flush=True)
    return {
        "kind": "esn",
        "folds": args.folds,
        "repeats": args.repeats,
        "points": args.points,
        "results": results,
    }


# ---------------------------------------------------------------- rnn
def write_ts(data, indices, path: Path) -> None:
    """Sequences `indices` of `data` as a UEA .ts file (dimensions separated by ':', label last)."""
    lines = [
        "@problemName fold",
        "@timeStamps false",
        "@univariate false",
        f"@dimensions {data.features}",
        "@equalLength false",
        f"@classLabel true {' '.join(labelled.classes(data))}",
        "@data",
    ]
    for i in indices:
        series = data.series[i]
        dims = [",".join(repr(float(v)) for v in series[:, f]) for f in range(data.features)]
        lines.append(":".join(dims) + ":" + data.labels[i])
    path.write_text("\n".join(lines) + "\n")


def select_rnn(args) -> dict:
    from keras_rnn.commands.train import main as train

    data = labelled.read_labelled_series(args.train)
    candidates = dict(c.split("=", 1) for c in args.candidate)
    results = []
    with tempfile.TemporaryDirectory(prefix="classify-select-") as tmp:
        work = Path(tmp)
        for repeat in split_seeds(args):
            for k, held in enumerate(folds(data.labels, args.folds, repeat)):
                kept = np.setdiff1d(np.arange(len(data)), held)
                write_ts(data, kept, work / f"train-{repeat}-{k}.ts")
                write_ts(data, held, work / f"held-{repeat}-{k}.ts")
        for name, options in candidates.items():
            errors, seconds = [], []
            for repeat in split_seeds(args):
                wrong = 0
                for k in range(args.folds):
                    run_dir = work / f"{name}-{repeat}-{k}"
                    argv = [
                        "--task",
                        "classify",
                        "--train-file",
                        str(work / f"train-{repeat}-{k}.ts"),
                        "--test-file",
                        str(work / f"held-{repeat}-{k}.ts"),
                        "--seed",
                        str(repeat),
                        "--run-dir",
                        str(run_dir),
                        "--fresh",
                        "--model",
                        "rnn",
                        *shlex.split(options),
                    ]
                    with contextlib.redirect_stdout(io.StringIO()):
                        if train(argv):
                            raise SystemExit(f"{name}: train.py {' '.join(argv)} failed")
                    metrics = json.loads((run_dir / "metrics.json").read_text())
                    wrong += metrics["test_errors"]
                    seconds.append(metrics["train_seconds_this_session"])
                errors.append(wrong)
            row = {
                "name": name,
                "options": options,
                "cv_errors_mean": float(np.mean(errors)),
                "cv_errors": errors,
                "fit_seconds_median": float(np.median(seconds)),
            }
            results.append(row)
            print(json.dumps(row), flush=True)
    return {"kind": "rnn", "folds": args.folds, "split_seeds": split_seeds(args), "results": results}


def split_seeds(args) -> list[int]:
    """The repeats' split seeds: `--repeats` of them from `--first-repeat` (a later run can add
    repeats to an earlier one's without redoing them)."""
    return list(range(args.first_repeat, args.first_repeat + args.repeats))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=["esn", "rnn"])
    parser.add_argument("--train", required=True)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--first-repeat", type=int, default=0, help="rnn: the first repeat's split seed")
    parser.add_argument("--name", default=None)
    parser.add_argument("--candidate", action="append", default=[], help='rnn: NAME="train.py options"')
    # esn grid
    parser.add_argument("--units", nargs="+", default=[500])
    parser.add_argument("--leak", nargs="+", default=[0.3])
    parser.add_argument("--input-scaling", nargs="+", default=[0.25])
    parser.add_argument("--spectral-radius", nargs="+", default=[0.9])
    parser.add_argument("--bias-scaling", nargs="+", default=[0.5])
    parser.add_argument(
        "--connectivity", nargs="+", default=[0.1], help="share of non-zero recurrent weights"
    )
    parser.add_argument(
        "--both-ways", action="store_true", help="also try reservoirs over the reversed series"
    )
    parser.add_argument(
        "--pooling", nargs="+", default=["mean+points"], help="mean, points, mean+points, last"
    )
    parser.add_argument("--points", type=int, default=3)
    parser.add_argument("--committee", nargs="+", type=int, default=[1])
    parser.add_argument(
        "--joint", action="store_true", help="committees: also one readout over all members' features"
    )
    parser.add_argument("--alpha", nargs="+", type=float, default=[3.0])
    args = parser.parse_args()
    found = select_esn(args) if args.kind == "esn" else select_rnn(args)
    best = min(found["results"], key=lambda r: r["cv_errors_mean"])
    print("best:", json.dumps(best))
    save(
        args.name or f"classify_select_{args.kind}",
        {
            "command": "python benchmarks/classify_select.py " + " ".join(sys.argv[1:]),
            "data": {"train": Path(args.train).name, "test": "never read"},
            **found,
            "best": best,
        },
    )


if __name__ == "__main__":
    main()
