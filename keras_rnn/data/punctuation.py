"""Punctuation and capitals as one tag per word (`--task tag`), from any UTF-8 text; TF-free.

    python -m keras_rnn.data.punctuation TEXT --out DIR [--column N] [--valid 0.1] [--test 0.1] [--seed 0]

writes `DIR/train.conll`, `valid.conll`, `test.conll`: one line of TEXT (its `--column`, for a
tab-separated file) becomes one sequence, `word<TAB>tag` per word and a blank line after it; the
lines are split at random by `--seed`. A word is what the served model reads: the text lowercased
and split as `keras_rnn.data.tokens.tokenize` splits words, punctuation and quotes (`'` at either
end of a word) dropped; its tag is
`PUNCT/CASE`:

- PUNCT, the first of `, . ? ! : ;` after the word (before the next word): none, comma, period,
  question, exclamation, colon (`:` and `;`); other marks (quotes, brackets, dashes) count as none;
- CASE, how the word was written: lower, cap (first letter a capital: `God`, `I`) or upper (two or
  more letters, all capitals: `LORD`).

`restore(words, tags)` puts both back ("and god said" + tags -> "And God said,"); `scores` is
what metrics.json and the benchmark report: F1 per punctuation class and the micro F1 over the
punctuation classes ("none" excluded, as the punctuation-restoration papers count it), per-tag
precision / recall / F1, capitalisation accuracy and the confusion tables.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from keras_rnn import UserError, output_directory, report_errors, write_atomically
from keras_rnn.data import tokens_py

MARKS = {",": "comma", ".": "period", "?": "question", "!": "exclamation", ":": "colon", ";": "colon"}
PUNCTUATION = ("none", "comma", "period", "question", "exclamation", "colon")
WRITTEN = {"none": "", "comma": ",", "period": ".", "question": "?", "exclamation": "!", "colon": ":"}
CASES = ("lower", "cap", "upper")
SPLITS = ("train", "valid", "test")


# ---------------------------------------------------------------- the tag scheme
def tag_of(punct: str, case: str) -> str:
    return f"{punct}/{case}"


def parts(tag: str) -> tuple[str, str]:
    """`comma/cap` -> ("comma", "cap"); a tag outside the scheme counts as (tag, "lower")."""
    punct, _, case = tag.partition("/")
    return punct, case if case in CASES else "lower"


def is_scheme(tags: list[str]) -> bool:
    """Whether a run's tags are this PUNCT/CASE scheme (else, e.g. NER tags, nothing is restored)."""
    return all("/" in t and parts(t)[0] in PUNCTUATION and t.partition("/")[2] in CASES for t in tags)


def case_of(word: str) -> str:
    if tokens_py.lower(word) == word:
        return "lower"
    letters = [c for c in word if c.isalpha()]
    if len(letters) > 1 and all(c.isupper() for c in letters):
        return "upper"
    return "cap"


def tagged(text: str) -> list[tuple[str, str]]:
    """(word lowercased, tag) for every word of `text`."""
    out: list[tuple[str, str]] = []
    punct = None
    for token in tokens_py.tokenize(text, "word", lowercase=False):
        if word_of(token):
            if out:
                out[-1] = (out[-1][0], tag_of(punct or "none", parts(out[-1][1])[1]))
            out.append((tokens_py.lower(word_of(token)), tag_of("none", case_of(word_of(token)))))
            punct = None
        elif out and punct is None and token in MARKS:
            punct = MARKS[token]
    if out:
        out[-1] = (out[-1][0], tag_of(punct or "none", parts(out[-1][1])[1]))
    return out


def word_of(token: str) -> str:
    """The word a token of the tokenizer holds, without quotes ('yes' -> yes); "" for a
    punctuation mark (the tokenizer gives each its own one-character token) or a lone quote."""
    return token.strip("'") if len(token) > 1 or tokens_py.in_word(token) else ""


def words_of(text: str) -> list[str]:
    """What the served model reads of a text: its words, lowercased, punctuation and quotes dropped."""
    return [w for w in map(word_of, tokens_py.tokenize(text, "word", lowercase=True)) if w]


def restore(words: list[str], tags: list[str]) -> str:
    """The words written back with their tags' capitals and punctuation, joined by spaces."""
    out = []
    for word, tag in zip(words, tags):
        punct, case = parts(tag)
        if case == "upper":
            word = word.upper()
        elif case == "cap":
            word = word[:1].upper() + word[1:]
        out.append(word + WRITTEN.get(punct, ""))
    return " ".join(out)


# ---------------------------------------------------------------- scores
def prf(tp: int, fp: int, fn: int) -> dict:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": tp + fn}


def per_class(predicted: list[str], truth: list[str], classes) -> dict:
    return {
        c: prf(
            sum(p == c and t == c for p, t in zip(predicted, truth)),
            sum(p == c and t != c for p, t in zip(predicted, truth)),
            sum(p != c and t == c for p, t in zip(predicted, truth)),
        )
        for c in classes
    }


def confusion(predicted: list[str], truth: list[str], labels) -> dict:
    """Rows: the true label, columns: the predicted one."""
    index = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), int)
    for p, t in zip(predicted, truth):
        if p in index and t in index:
            matrix[index[t], index[p]] += 1
    return {"labels": list(labels), "matrix": matrix.tolist()}


def scores(predicted: list[str], truth: list[str], tags: list[str] | None = None) -> dict:
    """Scores of predicted tags against the true ones (flat lists, one tag per word).

    `f1` is the micro F1 over the punctuation classes, "none" excluded: a word whose true mark
    is m != none counts as found when m is predicted; a predicted mark that is not the true one
    is a false positive (a comma for a period is both a miss and a false alarm)."""
    if len(predicted) != len(truth):
        raise ValueError(f"{len(predicted)} predicted tags for {len(truth)} words")
    p_punct, t_punct = [parts(p)[0] for p in predicted], [parts(t)[0] for t in truth]
    marks = PUNCTUATION[1:]
    tp = sum(p == t and t in marks for p, t in zip(p_punct, t_punct))
    fp = sum(p in marks and p != t for p, t in zip(p_punct, t_punct))
    fn = sum(t in marks and p != t for p, t in zip(p_punct, t_punct))
    overall = prf(tp, fp, fn)
    tags = tags or sorted(set(truth))
    words = max(1, len(truth))
    return {
        "words": len(truth),
        "f1": overall["f1"],
        "precision": overall["precision"],
        "recall": overall["recall"],
        "punctuation": per_class(p_punct, t_punct, PUNCTUATION),
        "capitalisation_accuracy": sum(parts(p)[1] == parts(t)[1] for p, t in zip(predicted, truth)) / words,
        "tag_accuracy": sum(p == t for p, t in zip(predicted, truth)) / words,
        "tags": per_class(predicted, truth, tags),
        "punctuation_confusion": confusion(p_punct, t_punct, PUNCTUATION),
        "case_confusion": confusion([parts(p)[1] for p in predicted], [parts(t)[1] for t in truth], CASES),
    }


# ---------------------------------------------------------------- the files
def read_lines(path, column: int | None) -> list[tuple[int, str]]:
    """(line number, text) of the non-empty lines of a UTF-8 file (`column`: 1-based, tab-separated)."""
    from keras_rnn.data import labelled, require_file

    path = require_file(path, "a UTF-8 text file")
    out = []
    for number, line in labelled._numbered_lines(labelled._decoded(path)):
        if column:
            fields = line.split("\t")
            if len(fields) < column:
                raise UserError(
                    f"{path}, line {number}: {len(fields)} tab-separated column(s), no column {column}"
                )
            line = fields[column - 1]
        if line.strip():
            out.append((number, line))
    return out


def conll(sequences: list[list[tuple[str, str]]]) -> str:
    return "".join("".join(f"{word}\t{tag}\n" for word, tag in s) + "\n" for s in sequences)


def make_files(text, out, column=None, valid=0.1, test=0.1, seed=0, max_words=None) -> dict:
    """Write the three CoNLL files; returns {split: (sequences, words)}."""
    from keras_rnn.limits import MAX_TAG_WORDS

    if not (0 < valid < 1 and 0 < test < 1 and valid + test < 1):
        raise UserError(
            f"--valid and --test must be fractions in (0, 1) with a sum under 1, not {valid}, {test}"
        )
    limit = max_words or MAX_TAG_WORDS
    sequences = [s[:limit] for s in (tagged(line) for _, line in read_lines(text, column)) if s]
    if len(sequences) < 3:
        raise UserError(f"{text}: {len(sequences)} line(s) with words: need at least 3 (one per split)")
    order = np.random.default_rng(seed).permutation(len(sequences))
    n_test, n_valid = max(1, round(test * len(order))), max(1, round(valid * len(order)))
    held = {
        "test": order[:n_test],
        "valid": order[n_test : n_test + n_valid],
        "train": order[n_test + n_valid :],
    }
    out = output_directory(out, "--out")
    counts = {}
    for split in SPLITS:
        chosen = [sequences[i] for i in sorted(held[split])]
        write_atomically(out / f"{split}.conll", conll(chosen))
        counts[split] = (len(chosen), sum(map(len, chosen)))
    return counts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m keras_rnn.data.punctuation", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("text", help="a UTF-8 text file, one sequence per line")
    parser.add_argument("--out", required=True, help="where train.conll, valid.conll, test.conll go")
    parser.add_argument("--column", type=int, default=None, help="read this tab-separated column (1-based)")
    parser.add_argument("--valid", type=float, default=0.1, help="share of the lines for validation")
    parser.add_argument("--test", type=float, default=0.1, help="share of the lines for the test split")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split by line")
    parser.add_argument("--max-words", type=int, default=None, help="cut longer lines (default: the limit)")
    args = parser.parse_args(argv)

    def run():
        if args.column is not None and args.column < 1:
            raise UserError(f"--column counts from 1, not {args.column}")
        counts = make_files(
            args.text, args.out, args.column, args.valid, args.test, args.seed, args.max_words
        )
        for split, (n, words) in counts.items():
            print(f"{Path(args.out) / f'{split}.conll'}: {n:,} sequences, {words:,} words")
        train = Path(args.out) / "train.conll"
        tags = Counter(line.split("\t")[1] for line in train.read_text(encoding="utf-8").splitlines() if line)
        print("training tags:", ", ".join(f"{t} {c:,}" for t, c in tags.most_common()))

    return report_errors(run)


if __name__ == "__main__":
    sys.exit(main())


OUTSIDE = "O"


def token_scores(predicted: list[str], truth: list[str], tags: list[str]) -> dict:
    """Scores of tags outside the PUNCT/CASE scheme (NER, part of speech): `f1` is the micro F1
    per word over every tag but the "outside" tag `O` (over all tags when there is none): a word
    counts as found when its true tag t != O is predicted; a predicted t != O on a word whose true
    tag differs is a false positive. Per word, not per entity span (CoNLL's scorer counts spans)."""
    if len(predicted) != len(truth):
        raise ValueError(f"{len(predicted)} predicted tags for {len(truth)} words")
    counted = [t for t in tags if t != OUTSIDE]
    tp = sum(p == t and t in counted for p, t in zip(predicted, truth))
    fp = sum(p in counted and p != t for p, t in zip(predicted, truth))
    fn = sum(t in counted and p != t for p, t in zip(predicted, truth))
    overall = prf(tp, fp, fn)
    return {
        "words": len(truth),
        "f1": overall["f1"],
        "precision": overall["precision"],
        "recall": overall["recall"],
        "f1_excludes": [OUTSIDE] if OUTSIDE in tags else [],
        "tag_accuracy": sum(p == t for p, t in zip(predicted, truth)) / max(1, len(truth)),
        "tags": per_class(predicted, truth, tags),
        "tag_confusion": confusion(predicted, truth, tags),
    }
