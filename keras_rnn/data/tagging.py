"""Tagged sequences as a tagger reads them (`--task tag`): the splits, the run's vocabulary, the
words of a served text, and the tf.data pipeline.

- `load_splits`: training, validation (a seeded 10% of training without `--validation-file`
  or a named set's validation split) and test sequences, read by `keras_rnn.data.conll` or, with
  `--dataset`, from tensorflow-datasets (`keras_rnn.data.tfds_sets.tagged_splits`), every
  held-out tag one of training's;
- `TagVocabulary`: what a run keeps in vocab.json: the tags, the words (the most frequent,
  seen at least `--min-count` times: the rest share the unknown id, so it is trained), and the
  words' last three characters, the fallback that tells unknown words apart (`-eth`, `-ing`);
- `words_in_graph`: texts [B] -> their words, in TF ops (what the SavedModel reads): lowercased,
  split as `keras_rnn.data.tokens.tokenize` splits words, punctuation and quotes dropped
  (`keras_rnn.data.punctuation.words_of` is the same in plain Python, for the LiteRT host);
- `TagIds`: words -> (word ids, suffix ids), in TF ops;
- `make_dataset`: ((word ids, suffix ids, lengths), tag ids, step weights), padded per batch.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

import tensorflow as tf

from keras_rnn import UserError
from keras_rnn import config as config_lib
from keras_rnn.data import conll, passes_or_one, tokens_py
from keras_rnn.data.tokens import TokenVocabulary, load_json, save_json, tokenize
from keras_rnn.limits import MAX_TAG_WORDS

VALIDATION_FRACTION = 0.1
SUFFIX_CHARS = 3
LENGTH_BUCKETS = [8, 16, 24, 32, 48, 64, 96]  # training batches hold sequences of one of these ranges


@dataclasses.dataclass
class Splits:
    train: conll.TaggedText
    validation: conll.TaggedText
    test: conll.TaggedText | None


def load_splits(cfg) -> Splits:
    """From CoNLL files, or `--dataset`, a tensorflow-datasets set (`keras_rnn.data.tfds_sets`)."""
    if cfg.dataset and cfg.train_file:
        raise UserError("give either --train-file or --dataset, not both")
    if not cfg.train_file and not cfg.dataset:
        raise UserError(
            "--task tag needs --train-file (CoNLL: token<TAB>tag per line) or --dataset (a "
            "tensorflow-datasets set, e.g. conll2003); see docs/tag.md"
        )
    named = {}
    if cfg.dataset:
        from keras_rnn.data.tfds_sets import tagged_splits

        named = tagged_splits(cfg.dataset, cfg.token_feature, cfg.tag_feature, cfg.tfds_data_dir)
    train = named["train"] if named else conll.read_conll(cfg.train_file)
    if cfg.validation_file or "validation" in named:
        validation = conll.read_conll(cfg.validation_file) if cfg.validation_file else named["validation"]
    else:
        train, validation = conll.hold_out(train, VALIDATION_FRACTION, config_lib.data_seed(cfg))
    test = conll.read_conll(cfg.test_file) if cfg.test_file else named.get("test")
    for held in (validation, test):
        if held is not None:
            conll.check_tags(held, train)
    return Splits(train, validation, test)


def suffix(word: str) -> str:
    return word[-SUFFIX_CHARS:]


@dataclasses.dataclass
class TagVocabulary:
    """Tags (id -> tag), words and suffixes (ids: 0 padding, 1 unknown, then the lists), and
    `length`, the LiteRT model's fixed number of words: twice the longest training sequence (at
    most the served limit); the host refuses longer texts."""

    tags: list[str]
    words: list[str]
    suffixes: list[str]
    length: int

    @classmethod
    def build(cls, train: conll.TaggedText, cfg) -> TagVocabulary:
        counts = Counter(tokens_py.lower(w) for words in train.words for w in words)
        words = [w for w, n in counts.most_common(cfg.vocab_size) if n >= cfg.min_count]
        ends = Counter()
        for word, n in counts.items():
            ends[suffix(word)] += n
        suffixes = [s for s, n in ends.most_common(cfg.vocab_size) if n >= cfg.min_count]
        length = min(2 * max(map(len, train.words)), MAX_TAG_WORDS)
        return cls(conll.tag_set(train), words, suffixes, length)

    def save(self, path) -> None:
        save_json(path, dataclasses.asdict(self))

    @classmethod
    def load(cls, path) -> TagVocabulary:
        return cls(**load_json(path))


def words_in_graph(texts) -> tf.RaggedTensor:
    """Texts [B] -> ragged words [B, None]: lowercased word tokens, punctuation tokens dropped."""
    tokens = tokenize(texts, "word", lowercase=True)
    punctuation = tf.strings.regex_full_match(tokens.flat_values, r"[^\pL\pN\s']")
    words = tokens.with_flat_values(tf.strings.regex_replace(tokens.flat_values, "^'+|'+$", ""))
    keep = tf.logical_and(tf.logical_not(punctuation), words.flat_values != "")
    return tf.ragged.boolean_mask(words, words.with_flat_values(keep))


class TagIds(tf.Module):
    """Ragged words -> ragged (word ids, suffix ids), int32; words are lowercased first."""

    def __init__(self, vocab: TagVocabulary):
        super().__init__()
        self.words = TokenVocabulary(vocab.words).lookup()
        self.suffixes = TokenVocabulary(vocab.suffixes).lookup()

    def __call__(self, words: tf.RaggedTensor):
        words = tf.ragged.map_flat_values(tf.strings.lower, words, encoding="utf-8")
        ends = tf.ragged.map_flat_values(
            tf.strings.regex_replace, words, f"^.*?(.{{1,{SUFFIX_CHARS}}})$", r"\1"
        )
        ids = lambda lookup, values: tf.cast(tf.ragged.map_flat_values(lookup, values), tf.int32)  # noqa: E731
        return ids(self.words, words), ids(self.suffixes, ends)


def tag_ids(data: conll.TaggedText, vocab: TagVocabulary) -> tf.RaggedTensor:
    index = {tag: i for i, tag in enumerate(vocab.tags)}
    return tf.ragged.constant([[index[t] for t in tags] for tags in data.tags], tf.int32)


def make_dataset(data: conll.TaggedText, vocab: TagVocabulary, batch_size: int, shuffle_seed=None):
    """((word ids, suffix ids, lengths), tag ids, step weights 1/0), padded per batch. With
    `shuffle_seed` (training): endless passes, each in an order that depends on (seed, pass)
    alone (`keras_rnn.data.passes_or_one`), batched by length (`LENGTH_BUCKETS`: a batch's
    sequences come from one range, as they arrive in that order); without: one pass in order."""
    word_ids, suffix_ids = TagIds(vocab)(tf.ragged.constant(data.words, tf.string))
    examples = (word_ids, suffix_ids, tag_ids(data, vocab))
    shuffle, seed = shuffle_seed is not None, shuffle_seed or 0

    def batches(ds):
        ds = ds.map(lambda w, s, t: (w, s, tf.shape(w)[0], t))
        if shuffle:  # training: batches of similar lengths (less padding to run the recurrence over)
            sizes = [batch_size] * (len(LENGTH_BUCKETS) + 1)
            ds = ds.bucket_by_sequence_length(lambda w, s, n, t: n, LENGTH_BUCKETS, sizes)
        else:
            ds = ds.padded_batch(batch_size)
        return ds.map(lambda w, s, n, t: ((w, s, n), t, tf.sequence_mask(n, tf.shape(w)[1], tf.float32)))

    return passes_or_one(examples, len(data), seed, shuffle, batches).prefetch(tf.data.AUTOTUNE)
