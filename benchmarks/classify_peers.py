"""The peers of sequence classification on Japanese Vowels (GUIDE §5): reservoirpy's ESN recipe and
aeon's MiniRocket, each over seeds, on the standard split (270 training / 370 test utterances of
7-29 steps of 12 LPC cepstra, 9 speakers). Test accuracy and errors per seed (mean and worst), fit
time. Benchmark-only dependencies: `pip install -e ".[bench]"` (reservoirpy, aeon).

Peers (each a function `(train, test, seed) -> PeerRun`, in PEERS, for scripts that run them beside
our classifiers):

- reservoirpy's tutorial "Classification with Reservoir Computing" (tutorials/5-Classification-with-RC):
  `esn_last_state`: its sequence-to-vector model as written: Reservoir(500, sr=0.9, lr=0.1) (input
  scaling 1, connectivity 0.1, no bias) on the raw cepstra, the last state of each utterance into
  Ridge(ridge=1e-6), argmax (the notebook: 87.3%);
  `esn_transduction`: its sequence-to-sequence model: Reservoir(500, sr=0.05), Ridge(ridge=0.1) on
  [state; input] at every step after a warmup of 2, trained on the label repeated over time. The
  notebook scores time steps (92.8%); an utterance's label here is the argmax of its outputs summed
  over its steps (the per-step accuracy is reported too);
  `esn_last_state_cv`, the recipe at its best: the same model with the ridge chosen per seed by
  stratified 5-fold cross-validation on the training set (1e-6 lets 500 states overfit 270 utterances).
- aeon's MiniRocketClassifier (10,000 kernels, standard scaling, RidgeClassifierCV), which takes
  equal lengths only (aeon 1.6 refuses a list of unequal 2D arrays): the utterances are padded as
  aeon's preprocessing guide shows, with its `Padder`: `minirocket` with zeros (Padder's default),
  `minirocket_last` with each series' last value. Padded to the longest utterance of either file
  (29 steps, the length of the archive's equal-length copy), so no test utterance is cut.

The data comes from the shared .ts files through keras_rnn.data.labelled (reservoirpy's own loader
downloads from the UCI site). Each peer is run once untimed first (numba compiles MiniRocket then).

    .venv/bin/python benchmarks/classify_peers.py --seeds 10 \\
        --train ../shared/data/japanese-vowels/JapaneseVowels_TRAIN.ts \\
        --test ../shared/data/japanese-vowels/JapaneseVowels_TEST.ts
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from benchmarks.common import save  # noqa: E402
from keras_rnn.data import labelled  # noqa: E402
from keras_rnn.data.labelled import LabelledSeries  # noqa: E402

JOBS = 2  # threads for MiniRocket (the benchmark machine's cores)
RIDGES = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0]  # esn_last_state_cv's grid (has the recipe's)
FOLDS = 5


@dataclass
class PeerRun:
    predictions: list[str]  # one label per test sequence
    fit_seconds: float
    predict_seconds: float
    extra: dict = field(default_factory=dict)


def one_hot(data: LabelledSeries, classes: list[str]) -> np.ndarray:
    return np.eye(len(classes))[[classes.index(label) for label in data.labels]]


def inputs(data: LabelledSeries) -> list[np.ndarray]:
    return [s.astype(np.float64) for s in data.series]  # reservoirpy's dtype


# ---------------------------------------------------------------- reservoirpy
def last_states(reservoir, data: LabelledSeries) -> np.ndarray:
    """[sequences, units]: the reservoir's state after each sequence, from a reset state each time
    (the tutorial's loop: run, keep states[-1], reset)."""
    states = []
    for x in inputs(data):
        states.append(reservoir.run(x)[-1])
        reservoir.reset()
    return np.array(states)


def esn_last_state(train: LabelledSeries, test: LabelledSeries, seed: int, ridge: float | None = 1e-6):
    """The tutorial's sequence-to-vector model; `ridge=None`: chosen by cross-validation."""
    from reservoirpy.nodes import Reservoir, Ridge

    classes = labelled.classes(train)
    started = time.perf_counter()
    reservoir = Reservoir(500, sr=0.9, lr=0.1, seed=seed)
    states, targets = last_states(reservoir, train), one_hot(train, classes)
    extra = {}
    if ridge is None:
        ridge, extra["cv_errors"] = cross_validated_ridge(states, train, seed)
        extra["ridge"] = ridge
    readout = Ridge(ridge=ridge).fit(states, targets)
    fitted = time.perf_counter()
    outputs = readout.run(last_states(reservoir, test))
    predictions = [classes[i] for i in np.argmax(outputs, axis=1)]
    return PeerRun(predictions, fitted - started, time.perf_counter() - fitted, extra)


def cross_validated_ridge(states: np.ndarray, train: LabelledSeries, seed: int) -> tuple[float, dict]:
    """The ridge of RIDGES with the fewest errors over stratified folds of the training set (ties:
    the larger ridge), and the errors of each."""
    from reservoirpy.nodes import Ridge

    classes = labelled.classes(train)
    targets, truth = one_hot(train, classes), np.array([classes.index(y) for y in train.labels])
    fold = np.zeros(len(train), dtype=int)
    rng = np.random.default_rng(seed)
    for c in range(len(classes)):
        members = rng.permutation(np.flatnonzero(truth == c))
        fold[members] = np.arange(len(members)) % FOLDS
    errors = {}
    for ridge in RIDGES:
        wrong = 0
        for k in range(FOLDS):
            fit, held = fold != k, fold == k
            readout = Ridge(ridge=ridge).fit(states[fit], targets[fit])
            wrong += int((np.argmax(readout.run(states[held]), axis=1) != truth[held]).sum())
        errors[ridge] = wrong
    best = min(RIDGES, key=lambda ridge: (errors[ridge], -ridge))
    return best, {f"{ridge:g}": n for ridge, n in errors.items()}


def esn_last_state_cv(train, test, seed):
    return esn_last_state(train, test, seed, ridge=None)


def esn_transduction(train: LabelledSeries, test: LabelledSeries, seed: int) -> PeerRun:
    """The tutorial's sequence-to-sequence model; one label per utterance from its summed outputs."""
    from reservoirpy.nodes import Input, Reservoir, Ridge

    classes = labelled.classes(train)
    started = time.perf_counter()
    source = Input()
    model = [source >> Reservoir(500, sr=0.05, seed=seed), source] >> Ridge(ridge=1e-1)
    targets = [np.repeat(y[None], len(x), axis=0) for y, x in zip(one_hot(train, classes), train.series)]
    model.fit(inputs(train), targets, warmup=2)
    fitted = time.perf_counter()
    outputs = model.run(inputs(test))
    predictions = [classes[int(np.argmax(out.sum(axis=0)))] for out in outputs]
    truth = np.array([classes.index(y) for y in test.labels])
    per_step = np.concatenate([np.argmax(out, axis=1) == t for out, t in zip(outputs, truth)])
    return PeerRun(
        predictions, fitted - started, time.perf_counter() - fitted, {"step_accuracy": per_step.mean()}
    )


# ---------------------------------------------------------------- aeon MiniRocket
def minirocket(train: LabelledSeries, test: LabelledSeries, seed: int, fill_value=0) -> PeerRun:
    from aeon.classification.convolution_based import MiniRocketClassifier
    from aeon.transformations.collection.unequal_length import Padder

    length = int(max(train.lengths.max(), test.lengths.max()))
    channels_first = lambda data: [s.T.astype(np.float64) for s in data.series]  # noqa: E731 (aeon's layout)
    started = time.perf_counter()
    padder = Padder(padded_length=length, fill_value=fill_value)
    model = MiniRocketClassifier(random_state=seed, n_jobs=JOBS)
    model.fit(padder.fit_transform(channels_first(train)), np.array(train.labels))
    fitted = time.perf_counter()
    predictions = model.predict(padder.transform(channels_first(test))).tolist()
    return PeerRun(predictions, fitted - started, time.perf_counter() - fitted, {"padded_length": length})


def minirocket_last(train, test, seed):
    return minirocket(train, test, seed, fill_value="last")


PEERS = {
    "esn_last_state": esn_last_state,
    "esn_last_state_cv": esn_last_state_cv,
    "esn_transduction": esn_transduction,
    "minirocket": minirocket,
    "minirocket_last": minirocket_last,
}


def run_peer(name: str, train: LabelledSeries, test: LabelledSeries, seeds: list[int]) -> dict:
    """Errors, accuracy and times of one peer over `seeds` (after one untimed run)."""
    fn = PEERS[name]
    started = time.perf_counter()
    fn(train, test, seeds[0])
    first = time.perf_counter() - started
    truth = np.array(test.labels)
    runs = []
    for seed in seeds:
        run = fn(train, test, seed)
        errors = int((np.array(run.predictions) != truth).sum())
        runs.append((errors, run))
        print(f"{name} seed {seed}: {errors} errors, fit {run.fit_seconds:.2f} s {run.extra}", flush=True)
    errors = np.array([e for e, _ in runs])
    fit = np.array([run.fit_seconds for _, run in runs])
    return {
        "errors_mean": float(errors.mean()),
        "errors_worst": int(errors.max()),
        "errors_best": int(errors.min()),
        "accuracy_mean": float(1 - errors.mean() / len(truth)),
        "accuracy_worst": float(1 - errors.max() / len(truth)),
        "fit_seconds_median": float(np.median(fit)),
        "fit_seconds_mean": float(fit.mean()),
        "predict_seconds_median": float(np.median([run.predict_seconds for _, run in runs])),
        "first_run_seconds": first,
        "errors": errors.tolist(),
        "seeds": seeds,
        "extra": [jsonable(run.extra) for _, run in runs],
    }


def jsonable(extra: dict) -> dict:
    return {k: float(v) if isinstance(v, np.floating) else v for k, v in extra.items()}


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--train", required=True, help="the training .ts (or .csv) file")
    parser.add_argument("--test", required=True, help="the test .ts (or .csv) file")
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0 .. seeds-1")
    parser.add_argument("--peers", default=",".join(PEERS), help=f"some of {','.join(PEERS)}")
    parser.add_argument("--name", default="classify_peers_japanese_vowels", help="results file name")
    args = parser.parse_args()
    names = args.peers.split(",")
    unknown = [n for n in names if n not in PEERS]
    if unknown or args.seeds < 1:
        parser.error(f"unknown peers {unknown}" if unknown else "--seeds must be at least 1")
    train, test = labelled.read_labelled_series(args.train), labelled.read_labelled_series(args.test)
    labelled.check_features(test, train)
    labelled.check_labels(test, train)
    seeds = list(range(args.seeds))
    results = {name: run_peer(name, train, test, seeds) for name in names}
    for name, r in results.items():
        print(
            f"{name:18s} errors mean {r['errors_mean']:5.1f} worst {r['errors_worst']:3d} | accuracy mean "
            f"{r['accuracy_mean']:.4f} worst {r['accuracy_worst']:.4f} | fit {r['fit_seconds_median']:.2f} s"
        )
    save(
        args.name,
        {
            "command": "python benchmarks/classify_peers.py " + " ".join(sys.argv[1:]),
            "data": {
                "train": Path(args.train).name,
                "test": Path(args.test).name,
                "train_sequences": len(train),
                "test_sequences": len(test),
                "features": train.features,
                "classes": labelled.classes(train),
                "lengths": [
                    int(min(train.lengths.min(), test.lengths.min())),
                    int(max(train.lengths.max(), test.lengths.max())),
                ],
            },
            "versions": versions(),
            "peers": results,
        },
    )


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("reservoirpy", "aeon", "numba", "numpy", "scikit-learn"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    return found


if __name__ == "__main__":
    main()
