"""Subword tokenizer on the real corpora: round trip, pieces per sentence, [UNK] rate, speed.

    python benchmarks/detok_roundtrip.py [--size 8000] [--repeats 20]

For each side of fra-eng (`fra.txt`) and bible-en-es (`train.tsv`): hold out a
seeded 10% of the sentences (seed 0), learn a `--size`-piece vocabulary on the
other 90% (`SubwordVocabulary.learn`, cased), then over both parts report
  - round trip: share of sentences with detok(tok(s)) == normalize(s) (NFKC,
    whitespace runs collapsed to one space, stripped), and a few failures;
  - pieces per sentence (and whitespace words per sentence, for scale), [UNK] rate;
  - TF == Python: share of sentences whose TF ids equal the pure-Python ids.
Speed: `SubwordTokenizer.__call__` (a tf.function) on 1,000 sentences, median of
--repeats calls after tracing: short sentences (fra-eng) and long (bible verses).
Results: benchmarks/results/detok_roundtrip.json.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tensorflow as tf  # noqa: E402
from common import save  # noqa: E402

from keras_rnn.data.subword import SubwordTokenizer, SubwordTokenizerPy, SubwordVocabulary, normalize  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
CORPORA = {
    "fra_eng": (DATA / "fra-eng" / "fra.txt", ("en", "fr")),
    "bible_en_es": (DATA / "bible-en-es" / "train.tsv", ("en", "es")),
}
UNKNOWN_ID = 1


def columns(path: Path) -> list[list[str]]:
    """Both columns of a tab-separated pairs file, as written (normalisation is the tokenizer's job)."""
    sides = [[], []]
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            parts = line.split("\t")
            sides[0].append(parts[0])
            sides[1].append(parts[1])
    return sides


def measure(py: SubwordTokenizerPy, tokenizer: SubwordTokenizer, texts: list[str]) -> dict:
    ids = [py.tokenize(t) for t in texts]
    failures = [t for t, i in zip(texts, ids) if py.detokenize(i) != normalize(t)]
    tf_ids = []
    for start in range(0, len(texts), 1000):  # NFKC first, as where text enters the pipeline
        tf_ids += tokenizer(tf.constant([normalize(t) for t in texts[start : start + 1000]])).to_list()
    pieces = sum(map(len, ids))
    return {
        "sentences": len(texts),
        "round_trip": round(1 - len(failures) / len(texts), 6),
        "pieces_per_sentence": round(pieces / len(texts), 3),
        "words_per_sentence": round(sum(len(t.split()) for t in texts) / len(texts), 3),
        "unknown_rate": round(sum(i.count(UNKNOWN_ID) for i in ids) / max(pieces, 1), 6),
        "tf_equals_python": round(sum(a == b for a, b in zip(ids, tf_ids)) / len(texts), 6),
        "failures": [{"text": t, "detok": py.detokenize(py.tokenize(t))} for t in failures[:3]],
    }


def time_tokenizer(tokenizer: SubwordTokenizer, texts: list[str], repeats: int) -> dict:
    batch = tf.constant([normalize(t) for t in texts])
    tokenizer(batch)  # tracing
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        tokenizer(batch).flat_values.numpy()
        times.append(time.perf_counter() - start)
    return {
        "sentences": len(texts),
        "median_ms": round(1000 * statistics.median(times), 2),
        "min_ms": round(1000 * min(times), 2),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=8000, help="pieces per vocabulary")
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per speed measurement")
    args = parser.parse_args()
    results, speed = {}, {}
    for corpus, (path, languages) in CORPORA.items():
        for language, texts in zip(languages, columns(path)):
            order = list(range(len(texts)))
            random.Random(0).shuffle(order)
            n_held = len(texts) // 10
            held_out = [texts[i] for i in order[:n_held]]
            train = [texts[i] for i in order[n_held:]]
            start = time.perf_counter()
            vocab = SubwordVocabulary.learn(train, args.size)
            learn_seconds = time.perf_counter() - start
            py, tokenizer = SubwordTokenizerPy(vocab), SubwordTokenizer(vocab)
            name = f"{corpus}_{language}"
            results[name] = {
                "pieces": len(vocab.pieces),
                "characters": sum(len(p) == 1 for p in vocab.pieces),
                "learn_seconds": round(learn_seconds, 2),
                "train": measure(py, tokenizer, train),
                "held_out": measure(py, tokenizer, held_out),
            }
            print(
                name,
                {k: v for k, v in results[name].items() if k not in ("train", "held_out")},
                "held-out round trip",
                results[name]["held_out"]["round_trip"],
                flush=True,
            )
            if language == "en":
                speed[corpus] = time_tokenizer(tokenizer, held_out[:1000], args.repeats)
    save(
        "detok_roundtrip",
        {
            "what": "cased subword vocabulary (BPE-learned pieces, greedy longest-match, ▁ word marker); "
            "vocabulary learned on a seeded 90% of each side (seed 0), measured on it and on the other 10%",
            "size": args.size,
            "normalisation": "NFKC, whitespace runs -> one space, strip",
            "corpora": results,
            "tf_speed_1000_sentences": {
                "what": "SubwordTokenizer.__call__ (tf.function) on 1,000 held-out English "
                "sentences, after tracing; median of --repeats calls",
                "repeats": args.repeats,
                **speed,
            },
        },
    )


if __name__ == "__main__":
    main()
