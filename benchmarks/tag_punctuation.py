"""Restoring punctuation and capitals (`--task tag`), side by side on one split and one wall clock.

The King James side of ../shared/data/bible-en-es/train.tsv becomes CoNLL files
(`python -m keras_rnn.data.punctuation ... --column 1 --seed 0`: 80% / 10% / 10% of the verses,
split at random by line); on them, each trained for the same `--minutes` of wall clock:

- `bidirectional`: the tagger's defaults (word + word-ending embeddings -> bidirectional GRU);
- `one_directional`: the same with `--no-bidirectional` (left context only);
- `window`: no recurrence: the same embeddings -> two 1-D convolutions of 7 words (about the
  bidirectional GRU's parameter count);
- `crf`: a linear-chain CRF (sklearn-crfsuite, L-BFGS, elastic net) with the usual window
  features: the word, its prefix and suffixes, the words within two either side, word bigrams.

Every neural checkpoint is picked on the validation split by punctuation F1; the test split is
scored once. Reported per model: F1 per punctuation class, the micro F1 over the punctuation
classes ("none" excluded), capitalisation accuracy. The bidirectional run is also exported and
its SavedModel, fed the test verses in a fresh process, is scored from its `restored` text.

    nice .venv/bin/python benchmarks/tag_punctuation.py --text ../shared/data/bible-en-es/train.tsv --minutes 8
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import run_python, save  # noqa: E402
from keras_rnn.data import conll, punctuation  # noqa: E402

VARIANTS = {
    "bidirectional": [],
    "one_directional": ["--no-bidirectional"],
    "window": ["--model", "window", "--units", "112", "--layers", "2", "--window", "7"],
}
SERVE = r"""
import json, sys
sys.modules["keras"] = sys.modules["keras_rnn"] = None
import tensorflow as tf
texts = json.loads(open(sys.argv[2], encoding="utf-8").read())
tag = tf.saved_model.load(sys.argv[1]).signatures["tag"]
out = []
for i in range(0, len(texts), 256):
    out += [t.decode("utf-8") for t in tag(text=tf.constant(texts[i : i + 256]))["restored"].numpy()]
print(json.dumps(out))
"""


def headline(found: dict) -> dict:
    return {
        "f1": found["f1"],
        "precision": found["precision"],
        "recall": found["recall"],
        "f1_per_class": {c: v["f1"] for c, v in found["punctuation"].items() if c != "none"},
        "support_per_class": {c: v["support"] for c, v in found["punctuation"].items() if c != "none"},
        "capitalisation_accuracy": found["capitalisation_accuracy"],
        "tag_accuracy": found["tag_accuracy"],
        "punctuation_confusion": found["punctuation_confusion"],
    }


def neural(name: str, options: list, files: Path, minutes: float, work: Path) -> dict:
    run_dir = work / name
    command = [
        "train.py", "--task", "tag",
        "--train-file", files / "train.conll", "--validation-file", files / "valid.conll",
        "--test-file", files / "test.conll",
        "--max-minutes", minutes, "--epochs", 1000, "--steps-per-epoch", 200, "--patience", 1000,
        *options,
    ]  # fmt: skip
    started = time.perf_counter()
    run_python([*command, "--run-dir", run_dir])
    metrics = json.loads((run_dir / "metrics.json").read_text())
    from keras_rnn.tasks import tag

    found = {k.removeprefix("test_"): v for k, v in metrics.items() if k.startswith("test_")}
    return {
        "options": " ".join(map(str, options)),
        "parameters": tag.TASK.load(run_dir).model.count_params(),
        "epochs_run": metrics["epochs_run"],
        "best_epoch": metrics.get("best_epoch"),
        "best_val_f1": metrics.get("best_val_f1"),
        "fit_seconds": metrics["train_seconds_this_session"],
        "command_seconds": round(time.perf_counter() - started, 1),
        **headline(found),
    }


def served_check(run_dir: Path, test: conll.TaggedText, metrics_f1: float, work: Path) -> dict:
    """Export the run; score the SavedModel's restored test verses (tags read back from the text)."""
    run_python(
        ["export.py", "--task", "tag", "--run-dir", run_dir, "--out", work / "exported", "--no-sample"]
    )
    texts = work / "texts.json"
    texts.write_text(json.dumps(test.texts), encoding="utf-8")
    restored = json.loads(
        run_python(["-c", SERVE, work / "exported" / "tag" / "1", texts]).stdout.strip().splitlines()[-1]
    )
    predicted = [tag for text in restored for _, tag in punctuation.tagged(text)]
    found = punctuation.scores(predicted, sum(test.tags, []))
    return {"served_f1": found["f1"], "served_matches_metrics": abs(found["f1"] - metrics_f1) < 1e-9}


def crf_features(words: list[str], i: int) -> dict:
    def about(word: str, at: str) -> dict:
        return {f"{at}w": word, f"{at}s3": word[-3:], f"{at}s2": word[-2:]}

    w = words[i]
    features = {"bias": 1.0, **about(w, ""), "p3": w[:3], "digit": w.isdigit(), "len": min(len(w), 8)}
    for offset in (-2, -1, 1, 2):
        j = i + offset
        if 0 <= j < len(words):
            features.update(about(words[j], f"{offset:+d}"))
        else:
            features[f"{offset:+d}edge"] = True
    if i > 0:
        features["-1|w"] = f"{words[i - 1]}|{w}"
    if i + 1 < len(words):
        features["w|+1"] = f"{w}|{words[i + 1]}"
    return features


def crf(train: conll.TaggedText, test: conll.TaggedText, iterations: int) -> dict:
    import sklearn_crfsuite

    started = time.perf_counter()
    features = lambda data: [[crf_features(ws, i) for i in range(len(ws))] for ws in data.words]  # noqa: E731
    model = sklearn_crfsuite.CRF(algorithm="lbfgs", c1=0.1, c2=0.01, max_iterations=iterations)
    model.fit(features(train), train.tags)
    fit_seconds = time.perf_counter() - started
    predicted = sum(model.predict(features(test)), [])
    found = punctuation.scores(predicted, sum(test.tags, []))
    options = f"lbfgs, c1 0.1, c2 0.01, max_iterations {iterations}, window +-2"
    return {"options": options, "fit_seconds": round(fit_seconds, 1), **headline(found)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--text", default="../shared/data/bible-en-es/train.tsv")
    parser.add_argument("--column", type=int, default=1)
    parser.add_argument(
        "--minutes", type=float, default=8.0, help="wall clock of each neural model's training"
    )
    parser.add_argument("--crf-iterations", type=int, default=150)
    parser.add_argument("--only", nargs="*", default=[*VARIANTS, "crf"])
    parser.add_argument("--name", default="tag_punctuation")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="tag-bench-") as tmp:
        work = Path(tmp)
        counts = punctuation.make_files(args.text, work / "data", column=args.column, seed=0)
        train, test = (
            conll.read_conll(work / "data" / "train.conll"),
            conll.read_conll(work / "data" / "test.conll"),
        )
        for name in args.only:
            if name == "crf":
                results[name] = crf(train, test, args.crf_iterations)
            else:
                results[name] = neural(name, VARIANTS[name], work / "data", args.minutes, work)
                if name == "bidirectional":
                    results[name].update(served_check(work / name, test, results[name]["f1"], work))
            print(
                name, json.dumps({k: v for k, v in results[name].items() if "confusion" not in k}), flush=True
            )
    print(f"\n{'':16s} punct F1 | comma period question exclam colon | caps acc")
    for name, r in results.items():
        per = " ".join(f"{r['f1_per_class'][c]:.3f}" for c in punctuation.PUNCTUATION[1:])
        print(f"{name:16s} {r['f1']:.4f}   | {per} | {r['capitalisation_accuracy']:.4f}")
    targets = {}
    if {"bidirectional", "crf"} <= set(results):
        targets["bidirectional_minus_crf_f1"] = results["bidirectional"]["f1"] - results["crf"]["f1"]
    if {"bidirectional", "one_directional"} <= set(results):
        targets["bidirectional_minus_one_directional_f1"] = (
            results["bidirectional"]["f1"] - results["one_directional"]["f1"]
        )
    save(
        args.name,
        {
            "command": "python benchmarks/tag_punctuation.py " + " ".join(sys.argv[1:]),
            "data": {
                "text": "bible-en-es/train.tsv, column 1 (King James)",
                "split": "python -m keras_rnn.data.punctuation --seed 0: 80/10/10 of the verses by line",
                "sequences_and_words": counts,
            },
            "minutes_per_neural_model": args.minutes,
            "note": "equal wall clock for the neural models, not equal compute (the recurrence steps "
            "word by word, the convolutions do not); machine.load_average: the load as the results "
            "were saved",
            "targets": {**targets, "wanted": "bidirectional >= crf + 0.05 and >= one_directional + 0.05"},
            "results": results,
        },
    )


if __name__ == "__main__":
    main()
