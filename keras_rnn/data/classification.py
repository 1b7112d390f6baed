"""Labelled sequences as a classifier reads them (`--task classify`): the splits, the run's
vocabulary (labels, standardisation, text tokens), and the tf.data pipeline.

- `load_splits`: training, validation (a stratified share of training without a file) and test
  sequences, every held-out label and feature count checked against training; without a file,
  generated waveforms;
- `Vocabulary`: what a run keeps in vocab.json;
- `TextIds`: texts -> token ids in TF ops (inside the SavedModel too);
- `make_dataset`: ((sequences, lengths), label ids) padded per batch; `padded`: the same in NumPy.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_rnn import UserError
from keras_rnn import config as config_lib
from keras_rnn.data import labelled
from keras_rnn.data.series import waveforms
from keras_rnn.data.tokens import TokenVocabulary, tokenize
from keras_rnn.limits import MAX_SERIES_STEPS, MAX_TEXT_CHARS


def is_text(path: str) -> bool:
    return Path(path).suffix.lower() in (".tsv", ".txt")


def read(path: str):
    return labelled.read_text_tsv(path) if is_text(path) else labelled.read_labelled_series(path)


@dataclasses.dataclass
class Splits:
    train: labelled.LabelledSeries | labelled.LabelledText
    validation: labelled.LabelledSeries | labelled.LabelledText
    test: labelled.LabelledSeries | labelled.LabelledText | None


def load_splits(cfg) -> Splits:
    """Training, validation and test sequences; every label of validation and test seen in training."""
    seed = config_lib.data_seed(cfg)
    if not cfg.train_file:
        if cfg.validation_file or cfg.test_file:
            raise UserError("--validation-file and --test-file need --train-file")
        held = max(3, cfg.generated // 3)
        return Splits(waveforms(cfg.generated, seed), waveforms(held, seed + 1), waveforms(held, seed + 2))
    train = read(cfg.train_file)
    if cfg.validation_file:
        validation = read(cfg.validation_file)
    else:
        train, validation = labelled.split(train, seed=seed)
    test = read(cfg.test_file) if cfg.test_file else None
    for held in (validation, test):
        if held is None:
            continue
        if type(held) is not type(train):
            raise UserError(f"{held.source} holds {kind(held)}, but {train.source} holds {kind(train)}")
        labelled.check_labels(held, train)
        if kind(train) == "series":
            labelled.check_features(held, train)
    return Splits(train, validation, test)


def kind(data) -> str:
    return "text" if isinstance(data, labelled.LabelledText) else "series"


@dataclasses.dataclass
class Vocabulary:
    """What a classify run keeps in vocab.json: its labels (id -> label), what it reads, for text
    its tokens, for series the standardisation; `length`, the LiteRT models' fixed input length,
    is twice the longest training sequence (at most the served limit): the host refuses longer ones."""

    labels: list[str]
    kind: str
    length: int
    features: int = 0
    mean: list[float] | None = None  # series: per-feature standardisation of the training split
    std: list[float] | None = None
    words: list[str] | None = None
    level: str = "char"
    lowercase: bool = False

    @classmethod
    def build(cls, train, cfg) -> Vocabulary:
        labels = labelled.classes(train)
        if kind(train) == "series":
            length = min(2 * int(train.lengths.max()), MAX_SERIES_STEPS)
            mean, std = labelled.standardisation(train)
            return cls(labels, "series", length, train.features, mean.tolist(), std.tolist())
        tokens = TokenVocabulary.build(train.texts, cfg.level, cfg.vocab_size, lowercase=cfg.lowercase)
        ids = tokenize(tf.constant(train.texts), cfg.level, cfg.lowercase).row_lengths().numpy()
        length = int(min(2 * max(ids.max(), 1), MAX_TEXT_CHARS))
        return cls(labels, "text", length, words=tokens.words, level=cfg.level, lowercase=cfg.lowercase)

    def save(self, path) -> None:
        Path(path).write_text(
            json.dumps(dataclasses.asdict(self), ensure_ascii=False) + "\n", encoding="utf-8"
        )

    @classmethod
    def load(cls, path) -> Vocabulary:
        return cls(**json.loads(Path(path).read_text(encoding="utf-8")))

    @property
    def tokens(self) -> TokenVocabulary:
        return TokenVocabulary(self.words or [])


class TextIds(tf.Module):
    """Texts [B] -> token ids [B, T] (0-padded) and lengths [B], in TF ops (inside the SavedModel)."""

    def __init__(self, vocab: Vocabulary):
        super().__init__()
        self.vocab, self.lookup = vocab, vocab.tokens.lookup()

    def __call__(self, texts):
        tokens = tokenize(texts, self.vocab.level, self.vocab.lowercase)
        ids = tf.cast(tf.ragged.map_flat_values(self.lookup, tokens), tf.int32)
        return ids.to_tensor(0), tf.cast(ids.row_lengths(), tf.int32)


def label_ids(data, vocab: Vocabulary) -> np.ndarray:
    index = {label: i for i, label in enumerate(vocab.labels)}
    return np.array([index[label] for label in data.labels], np.int32)


def make_dataset(data, vocab: Vocabulary, batch_size: int, shuffle_seed=None) -> tf.data.Dataset:
    """((sequences, lengths), label ids), padded per batch; shuffled each pass when `shuffle_seed`."""
    if vocab.kind == "series":
        values = tf.RaggedTensor.from_row_lengths(np.concatenate(data.series), data.lengths)
        inputs = tf.data.Dataset.from_tensor_slices(values).map(lambda s: (s, tf.shape(s)[0]))
    else:
        inputs = tf.data.Dataset.from_tensor_slices(tf.constant(data.texts))
    ds = tf.data.Dataset.zip((inputs, tf.data.Dataset.from_tensor_slices(label_ids(data, vocab))))
    if shuffle_seed is not None:
        ds = ds.shuffle(len(data), seed=shuffle_seed, reshuffle_each_iteration=True)
    if vocab.kind == "series":
        return ds.padded_batch(batch_size).prefetch(tf.data.AUTOTUNE)
    to_ids = TextIds(vocab)
    return ds.batch(batch_size).map(lambda t, y: (to_ids(t), y)).prefetch(tf.data.AUTOTUNE)


def padded(data) -> tuple[np.ndarray, np.ndarray]:
    """Series as one zero-padded array [N, T, F] and their lengths."""
    lengths = data.lengths
    out = np.zeros((len(data), int(lengths.max()), data.features), np.float32)
    for i, s in enumerate(data.series):
        out[i, : len(s)] = s
    return out, lengths.astype(np.int32)
