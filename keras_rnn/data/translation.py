"""Sentence pairs as model inputs: the splits the options name, both sides' vocabularies, the `Vectorizer` (strings ->
ids in TF ops, used by tf.data and inside the exported model) and the training datasets.

Three token levels: `subword` (cased BPE pieces learned from the training split,
`keras_rnn.data.subword`: no unknown words, and the output is real text with its case,
punctuation and clitics), `word` (punctuation split off) and `char`. `lowercase` is
applied the same way in training, in the SavedModel and in the LiteRT host.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from keras_rnn import UserError
from keras_rnn import config as config_lib
from keras_rnn.data import parallel, passes_or_one
from keras_rnn.data.subword import SubwordTokenizer, SubwordVocabulary
from keras_rnn.data.tokens import (
    END,
    PAD_ID,
    START,
    UNKNOWN_ID,
    TokenVocabulary,
    load_json,
    save_json,
    token_ids,
    tokenize,
    wrap_ids,
)

SOURCE_END_ID = 2  # source vocabulary: "", [UNK], <end>, ...
TARGET_START_ID, TARGET_END_ID = 2, 3  # target vocabulary: "", [UNK], <start>, <end>, ...
LEVELS = ("subword", "word", "char")


@dataclasses.dataclass
class Splits:
    train: list  # (source, target) pairs
    validation: list
    test: list
    test_references: list[str]  # the test targets as the file has them: what test scores compare with


def resolved_level(cfg) -> str:
    """The token level of a translate `Config`: --level, or for auto: characters for the dates
    task, subword pieces for sentence pairs."""
    return cfg.level if cfg.level != "auto" else ("subword" if cfg.pairs_file or cfg.dataset else "char")


def load_pairs(cfg) -> Splits:
    """The training, validation and test pairs the options name (a translate `Config`)."""
    if cfg.pairs_file and cfg.dataset:
        raise UserError("give either --train-file (--pairs-file) or --dataset, not both")
    if (cfg.validation_file or cfg.test_file) and not cfg.pairs_file:
        raise UserError(
            "--validation-file and --test-file go with --train-file (--pairs-file, the training pairs)"
        )
    if cfg.dataset:
        train, val, test = parallel.tfds_pairs(cfg.dataset, data_dir=cfg.tfds_data_dir, reverse=cfg.reverse)
        return Splits(train[: cfg.max_pairs or None], val, test, [t for _, t in test])
    if cfg.reverse and not cfg.pairs_file:
        raise UserError("--reverse applies to --train-file (--pairs-file) or --dataset only")
    seed = config_lib.data_seed(cfg)
    if not cfg.pairs_file:
        train, val, test = (
            parallel.dates(n, seed + offset)
            for n, offset in ((cfg.dates_train, 0), (cfg.dates_eval, 10_000), (cfg.dates_eval, 20_000))
        )
        return Splits(train, val, test, [t for _, t in test])
    pairs = read_pairs_file(cfg.pairs_file, cfg.reverse)[: cfg.max_pairs or None]
    if cfg.validation_file:
        train, val, test = pairs, read_pairs_file(cfg.validation_file, cfg.reverse), []
    else:  # a seeded 80/10/10 split, or 90/10 when the test pairs come from --test-file
        train, val, test = parallel.split(pairs, seed, test_fraction=0 if cfg.test_file else 0.1)
    if cfg.test_file:
        test = read_pairs_file(cfg.test_file, cfg.reverse)
    return Splits([p for p, _ in train], [p for p, _ in val], [p for p, _ in test], [r for _, r in test])


def read_pairs_file(path, reverse: bool) -> list:
    """[((source, target), the target as the file has it)]: the pairs NFKC-normalised for the
    model, each with its untouched reference for scoring."""
    read = parallel.read_pairs(path, reverse=reverse)
    print(f"{path}: {len(read.pairs):,} pairs, {read.blank_lines} blank line(s) skipped")
    return list(zip(read.pairs, read.references))


class Vocabulary:
    """Both sides' vocabularies, the token level and the case rule (what vocab.json holds).
    `source` / `target` are `SubwordVocabulary`s (subword level) or `TokenVocabulary`s; both
    give `tokens` (id -> token) and `len()`."""

    def __init__(self, level: str, source, target, lowercase: bool = False):
        self.level, self.source, self.target, self.lowercase = level, source, target, lowercase

    @classmethod
    def build(cls, pairs, level: str, source_size: int, target_size: int, lowercase: bool) -> Vocabulary:
        sources, targets = [s for s, _ in pairs], [t for _, t in pairs]
        if level == "subword":
            source = SubwordVocabulary.learn(sources, source_size, lowercase, specials=(END,))
            target = SubwordVocabulary.learn(targets, target_size, lowercase, specials=(START, END))
        else:
            source = TokenVocabulary.build(sources, level, source_size, [END], lowercase)
            target = TokenVocabulary.build(targets, level, target_size, [START, END], lowercase)
        return cls(level, source, target, lowercase)

    def save(self, path):
        sides = {
            side: vocab.to_json() if self.level == "subword" else vocab.words
            for side, vocab in (("source", self.source), ("target", self.target))
        }
        save_json(path, {"level": self.level, "lowercase": self.lowercase, **sides})

    @classmethod
    def load(cls, path):
        data = load_json(path)
        side = SubwordVocabulary.from_json if data["level"] == "subword" else TokenVocabulary
        return cls(data["level"], side(data["source"]), side(data["target"]), data.get("lowercase", True))

    def host_metadata(self) -> dict:
        """What a LiteRT host needs to turn text into ids and back (part of the exported metadata)."""
        return {
            "pad_id": PAD_ID,
            "unknown_id": UNKNOWN_ID,
            "source_end_id": SOURCE_END_ID,
            "target_start_id": TARGET_START_ID,
            "target_end_id": TARGET_END_ID,
            "lowercase": self.lowercase,
            "source_vocab": self.source.tokens,
            "target_vocab": self.target.tokens,
            **(
                {"source_subword": self.source.to_json(), "target_subword": self.target.to_json()}
                if self.level == "subword"
                else {}
            ),
        }


class Vectorizer(tf.Module):
    """Strings -> ids, in TF ops (used by tf.data and inside the exported model)."""

    def __init__(self, vocab: Vocabulary, max_source_len: int):
        super().__init__(name="vectorizer")
        self.level, self.lowercase, self.max_source_len = vocab.level, vocab.lowercase, max_source_len
        self.source_token_table = tf.constant(vocab.source.tokens)
        if self.level == "subword":
            self.source_tokenizer = SubwordTokenizer(vocab.source, name="source_tokenizer")
            self.target_tokenizer = SubwordTokenizer(vocab.target, name="target_tokenizer")
        else:
            self.source_lookup, self.target_lookup = vocab.source.lookup(), vocab.target.lookup()

    def source_ids(self, texts) -> tf.RaggedTensor:
        """All source token ids, untruncated (no <end>)."""
        if self.level == "subword":
            return self.source_tokenizer.tokenize(texts)
        return token_ids(tokenize(texts, self.level, self.lowercase), self.source_lookup)

    def source(self, texts):
        """[N] strings -> ids [N, S] ending in <end> (S <= max_source_len + 1), and the token counts [N]."""
        ids = self.source_ids(texts)[:, : self.max_source_len]
        return wrap_ids(ids, end_id=SOURCE_END_ID).to_tensor(), tf.cast(ids.row_lengths(), tf.int32)

    def source_tokens(self, source_ids):
        """`source`'s ids [N, S] -> the tokens the model read, as strings ("" for <end> and padding):
        attention-map labels, without tokenizing the text a second time."""
        return tf.where(source_ids == SOURCE_END_ID, "", tf.gather(self.source_token_table, source_ids))

    def target(self, texts):
        """[N] strings -> ragged ids <start> ... <end>."""
        if self.level == "subword":
            return wrap_ids(self.target_tokenizer.tokenize(texts), TARGET_START_ID, TARGET_END_ID)
        tokens = tokenize(texts, self.level, self.lowercase)
        return token_ids(tokens, self.target_lookup, TARGET_START_ID, TARGET_END_ID)


def make_dataset(pairs, vectorizer: Vectorizer, cfg, split: str, shuffle: bool):
    """((source ids, target input ids), target output ids) batches and their number; `cfg` gives
    max_source_len, max_target_len, batch_size, seed. Targets of over max_target_len tokens (<start> and
    <end> not counted) are skipped and counted.
    Each batch is padded to its own longest sentence (not the split's), so short sentences cost
    little: the recurrence and the vocabulary projection run over real lengths. Training batches
    (`shuffle`) hold pairs of similar length (`cfg.bucket_width`; 0 = random batches)."""
    if not pairs:
        raise UserError(f"the {split} split is empty")
    source_ids = vectorizer.source_ids(tf.constant([s for s, _ in pairs]))
    truncated = int(tf.reduce_sum(tf.cast(source_ids.row_lengths() > cfg.max_source_len, tf.int32)))
    if truncated:
        print(
            f"{split}: truncated {truncated} of {len(pairs)} sources to --max-source-len {cfg.max_source_len}"
        )
    sources = wrap_ids(source_ids[:, : cfg.max_source_len], end_id=SOURCE_END_ID)
    targets = vectorizer.target(tf.constant([t for _, t in pairs]))
    keep = (targets.row_lengths() <= cfg.max_target_len + 2).numpy()  # + <start> and <end>
    if not keep.all():
        print(
            f"{split}: skipped {int((~keep).sum())} of {len(keep)} pairs with targets over "
            f"--max-target-len {cfg.max_target_len} tokens"
        )
    if not keep.any():
        raise UserError(f"the {split} split has no pairs left: raise --max-target-len")
    kept = int(keep.sum())
    sources, targets = tf.ragged.boolean_mask(sources, keep), tf.ragged.boolean_mask(targets, keep)
    width = cfg.bucket_width if shuffle else 0
    if not width:
        batches = -(-kept // cfg.batch_size)
    else:  # batches of similar lengths: less padding, the same sentences per epoch
        lengths = tf.maximum(sources.row_lengths(), targets.row_lengths() - 1).numpy()
        boundaries = list(range(width + 1, int(lengths.max()) + width + 1, width))
        per_bucket = np.bincount(np.searchsorted(boundaries, lengths, side="right"))
        batches = int(sum(-(-n // cfg.batch_size) for n in per_bucket))
        pad = config_lib.uses_xla(cfg)  # XLA compiles every new shape: one shape per bucket

    def batch_pass(ds):
        ds = ds.map(lambda source, target: (source, target[:-1], target[1:]))
        if not width:
            ds = ds.padded_batch(cfg.batch_size)
        else:
            ds = ds.bucket_by_sequence_length(
                lambda source, target_in, target_out: tf.maximum(tf.size(source), tf.size(target_in)),
                boundaries,
                [cfg.batch_size] * (len(boundaries) + 1),
                pad_to_bucket_boundary=pad,
            )
        return ds.map(lambda source, target_in, target_out: ((source, target_in), target_out))

    return passes_or_one((sources, targets), kept, cfg.seed, shuffle, batch_pass), batches
