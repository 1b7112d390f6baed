"""Labelled sequences as a classifier reads them (`--task classify`): the splits, the run's
vocabulary (labels, standardisation, text tokens), and the tf.data pipeline.

- `load_splits`: training, validation (a stratified share of training without a file) and test
  sequences, every held-out label and feature count checked against training; from files, a
  `tensorflow-datasets` text set (`--dataset`, `tfds_texts`) or, without either, generated waveforms;
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
from keras_rnn.data import labelled, passes_or_one
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
    validation: labelled.LabelledSeries | labelled.LabelledText | None
    test: labelled.LabelledSeries | labelled.LabelledText | None


def load_splits(cfg) -> Splits:
    """Training, validation and test sequences; every label of validation and test seen in training."""
    seed = config_lib.data_seed(cfg)
    if cfg.dataset and cfg.train_file:
        raise UserError("give either --train-file or --dataset, not both")
    if not cfg.train_file and not cfg.dataset:
        if cfg.validation_file or cfg.test_file:
            raise UserError("--validation-file and --test-file need --train-file or --dataset")
        held = max(3, cfg.generated // 3)
        return Splits(waveforms(cfg.generated, seed), waveforms(held, seed + 1), waveforms(held, seed + 2))
    train, test = tfds_texts(cfg.dataset, cfg.tfds_data_dir) if cfg.dataset else (read(cfg.train_file), None)
    if cfg.validation_file:
        validation = read(cfg.validation_file)
    elif cfg.validation_share:
        train, validation = labelled.split(train, cfg.validation_share, seed=seed)
    else:  # all of it trains; the last weights are kept
        validation = None
    test = read(cfg.test_file) if cfg.test_file else test
    for held in (validation, test):
        if held is None:
            continue
        if type(held) is not type(train):
            raise UserError(f"{held.source} holds {kind(held)}, but {train.source} holds {kind(train)}")
        labelled.check_labels(held, train)
        if kind(train) == "series":
            labelled.check_features(held, train)
    return Splits(train, validation, test)


def tfds_texts(name: str, data_dir: str | None = None):
    """(train, test or None) of a `tensorflow-datasets` set with a text feature (`text`, else its
    first) and a ClassLabel `label`, labels as the ClassLabel's names. Empty texts and texts over
    MAX_TEXT_CHARS are skipped and counted (a named set cannot be edited as a file can)."""
    import tensorflow_datasets as tfds

    from keras_rnn.data.tfds_sets import prepared_builder, split_names

    builder = prepared_builder(name, data_dir=data_dir)
    features = dict(builder.info.features.items())  # a FeaturesDict has no .get
    label = features.get("label")
    texts = [key for key, feature in features.items() if isinstance(feature, tfds.features.Text)]
    if not isinstance(label, tfds.features.ClassLabel) or not texts:
        raise UserError(
            f"tensorflow-datasets '{name}' is not a text classification set: it needs a text feature and "
            f"a ClassLabel `label` (it has {', '.join(features)})"
        )
    text_key, splits = "text" if "text" in texts else texts[0], split_names(builder)
    if "train" not in splits:
        raise UserError(f"tensorflow-datasets '{name}' has no train split (it has {', '.join(splits)})")

    def read(split):
        out, skipped = labelled.LabelledText([], [], f"tensorflow-datasets {name} {split}"), 0
        for number, example in enumerate(tfds.as_numpy(builder.as_dataset(split=split)), 1):
            text = example[text_key].decode("utf-8")
            if not text.strip() or len(text) > MAX_TEXT_CHARS:
                skipped += 1
                continue
            out.texts.append(text)
            out.labels.append(label.int2str(int(example["label"])))
            out.lines.append(number)
        if skipped:
            print(f"{out.source}: skipped {skipped} empty text(s) or over {MAX_TEXT_CHARS:,} characters")
        if not out.texts:
            raise UserError(f"{out.source} holds no usable text")
        return out

    return read("train"), read("test") if "test" in splits else None


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
    """((sequences, lengths), label ids), padded per batch. With `shuffle_seed` (training):
    endless passes, each in an order that depends on (seed, pass) alone, so a mirrored run and a
    resumed one read the batches a one-device run reads (`keras_rnn.data.passes_or_one`);
    without: one pass in order."""
    labels = label_ids(data, vocab)
    if vocab.kind == "series":
        values = tf.RaggedTensor.from_row_lengths(np.concatenate(data.series), data.lengths)

        def batches(ds):
            ds = ds.map(lambda s, y: ((s, tf.shape(s)[0]), y))
            return ds.padded_batch(batch_size)
    else:
        values, to_ids = tf.constant(data.texts), TextIds(vocab)

        def batches(ds):
            return ds.batch(batch_size).map(lambda t, y: (to_ids(t), y))

    shuffle, seed = shuffle_seed is not None, shuffle_seed or 0
    return passes_or_one((values, labels), len(data), seed, shuffle, batches).prefetch(tf.data.AUTOTUNE)


def padded(data) -> tuple[np.ndarray, np.ndarray]:
    """Series as one zero-padded array [N, T, F] and their lengths."""
    lengths = data.lengths
    out = np.zeros((len(data), int(lengths.max()), data.features), np.float32)
    for i, s in enumerate(data.series):
        out[i, : len(s)] = s
    return out, lengths.astype(np.int32)
