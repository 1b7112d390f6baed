"""Subword tokenization in core TensorFlow ops, for tf.data and inside the SavedModel.

`SubwordTokenizer(vocab)` is a tf.Module (its lookup table is tracked, so it
saves and loads with the model; a process that imports only `tensorflow` can
run it: no tensorflow-text ops, which stock TF Serving lacks). Its ids equal
`SubwordTokenizerPy`'s (the pure-Python twin for the LiteRT host) for NFKC text;
the pipeline and the reasons are in `keras_rnn.data.subword_py`.

    vocab = SubwordVocabulary.learn(train_texts, 8000)          # Python, deterministic
    tokenizer = SubwordTokenizer(vocab)
    ids = tokenizer(tf.constant(["Don't stop!"]))                # RaggedTensor int32 [N, None]
    text = tokenizer.detokenize(ids)                              # [N] strings

Greedy longest match, vectorised: each pre-token found whole in the table is
one piece (most words, one lookup); the rest go through a tf.while_loop that
advances every unfinished pre-token by one piece per iteration, trying all
lengths 1..max_piece_chars at once (`tf.strings.substr(unit="UTF8_CHAR")`).
"""

from __future__ import annotations

import tensorflow as tf

from keras_rnn.data.subword_py import (
    MARKER,
    PAD,
    UNKNOWN_ID,
    UNKNOWN_TEXT,
    WHITESPACE_RUN_RE2,
    SubwordTokenizerPy,
    SubwordVocabulary,
    normalize,
    pretoken_pattern,
)

# The vocabulary and the pure-Python tokenizer are re-exported: one import for TF users.
__all__ = [
    "SubwordTokenizer",
    "SubwordTokenizerPy",
    "SubwordVocabulary",
    "clean_tf",
    "detokenize_tf",
    "normalize",
    "tokenize_tf",
]


def clean_tf(texts, lowercase: bool):
    """`subword_py.clean` in TF ops: invalid UTF-8 -> U+FFFD, drop NUL (tf.strings.lower stops
    at one), optional lowercase, whitespace/▁ runs -> " ", strip."""
    texts = tf.strings.unicode_transcode(texts, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD)
    texts = tf.strings.regex_replace(texts, r"\x00", "")
    if lowercase:
        texts = tf.strings.lower(texts, encoding="utf-8")
    return tf.strings.strip(tf.strings.regex_replace(texts, WHITESPACE_RUN_RE2, " "))


class SubwordTokenizer(tf.Module):
    """Strings [N] -> RaggedTensor of int32 ids [N, None]; and back (`detokenize`)."""

    def __init__(self, vocab: SubwordVocabulary, name: str = "subword_tokenizer"):
        super().__init__(name=name)
        self.lowercase, self.max_piece_chars = vocab.lowercase, vocab.max_piece_chars
        self.first_piece_id, self.vocab_size = vocab.first_piece_id, len(vocab)
        self._pretoken = pretoken_pattern(vocab.word_chars, flavor="re2")
        self._id_texts = [PAD, UNKNOWN_TEXT] + [""] * len(vocab.specials) + vocab.pieces
        ids = tf.range(vocab.first_piece_id, len(vocab), dtype=tf.int32)
        self.table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(vocab.pieces or [MARKER], tf.string),
                ids if vocab.pieces else tf.constant([UNKNOWN_ID]),
            ),
            default_value=UNKNOWN_ID,
        )

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def __call__(self, texts):
        return self.tokenize(texts)

    def tokenize(self, texts) -> tf.RaggedTensor:
        """The graph of `__call__`, callable eagerly or inside any tf.function / tf.data map."""
        texts = clean_tf(tf.convert_to_tensor(texts, tf.string), self.lowercase)
        texts = tf.where(
            tf.strings.length(texts) > 0, MARKER + tf.strings.regex_replace(texts, " ", MARKER), ""
        )
        pretokens = tf.strings.split(tf.strings.regex_replace(texts, self._pretoken, r" \1"))  # [N, None]
        return pretokens.with_values(self._pieces(pretokens.flat_values)).merge_dims(1, 2)

    def _pieces(self, words) -> tf.RaggedTensor:
        """Pre-tokens [T] -> their piece ids [T, None], greedy longest match first."""
        first, unknown = self.first_piece_id, tf.constant(UNKNOWN_ID, tf.int32)
        whole_ids = self.table.lookup(words)
        whole = whole_ids >= first
        slow_index = tf.cast(tf.where(~whole)[:, 0], tf.int32)
        slow = tf.gather(words, slow_index)
        slow_length = tf.strings.length(slow, unit="UTF8_CHAR")
        n_slow = tf.shape(slow)[0]

        def body(step, position, out):
            active = tf.cast(tf.where(position < slow_length)[:, 0], tf.int32)
            word, pos = tf.gather(slow, active), tf.gather(position, active)
            remaining = tf.gather(slow_length, active) - pos
            k = tf.minimum(self.max_piece_chars, tf.reduce_max(tf.concat([remaining, [1]], 0)))
            lengths = tf.range(1, k + 1)
            shape = tf.stack([tf.shape(active)[0], k])
            candidates = tf.strings.substr(
                tf.broadcast_to(word[:, None], shape),
                tf.broadcast_to(pos[:, None], shape),
                tf.broadcast_to(lengths[None, :], shape),
                unit="UTF8_CHAR",
            )
            candidate_ids = self.table.lookup(candidates)
            found = (candidate_ids >= first) & (lengths[None, :] <= remaining[:, None])
            best = tf.reduce_max(tf.where(found, lengths[None, :], 0), axis=1)  # 0: no piece, [UNK]
            piece = tf.where(
                best > 0, tf.gather(candidate_ids, tf.maximum(best - 1, 0), batch_dims=1), unknown
            )
            position = tf.tensor_scatter_nd_add(position, active[:, None], tf.maximum(best, 1))
            row = tf.tensor_scatter_nd_update(tf.fill([n_slow], -1), active[:, None], piece)
            return step + 1, position, out.write(step, row)

        _, _, out = tf.while_loop(
            lambda step, position, out: (step == 0) | tf.reduce_any(position < slow_length),
            body,
            (
                tf.constant(0),
                tf.zeros([n_slow], tf.int32),
                tf.TensorArray(tf.int32, size=0, dynamic_size=True, element_shape=[None]),
            ),
        )
        slow_rows = tf.RaggedTensor.from_tensor(tf.transpose(out.stack()), padding=-1)
        rows = tf.concat([tf.RaggedTensor.from_tensor(whole_ids[:, None]), slow_rows], axis=0)
        slow_position = tf.cumsum(tf.cast(~whole, tf.int32)) - 1
        return tf.gather(rows, tf.where(whole, tf.range(tf.size(words)), tf.size(words) + slow_position))

    @tf.function(input_signature=[tf.RaggedTensorSpec([None, None], tf.int32)])
    def detokenize(self, ids):
        """Ids [N, None] -> text [N]: padding and specials vanish, [UNK] and ids out of range read
        "[UNK]". Padded ids [N, T] (0 = padding): pass `tf.RaggedTensor.from_tensor(ids)`."""
        ids = tf.ragged.map_flat_values(
            lambda i: tf.where((i >= 0) & (i < self.vocab_size), i, UNKNOWN_ID), ids
        )
        texts = tf.strings.reduce_join(tf.gather(tf.constant(self._id_texts), ids), axis=-1)
        texts = tf.strings.regex_replace(tf.strings.regex_replace(texts, MARKER, " "), " +", " ")
        return tf.strings.strip(texts)


def tokenize_tf(texts, vocab) -> tf.RaggedTensor:
    """Strings [N] -> ids [N, None]; `vocab` a SubwordVocabulary or a SubwordTokenizer
    (build the tokenizer once and reuse it: it owns a lookup table)."""
    tokenizer = vocab if isinstance(vocab, SubwordTokenizer) else SubwordTokenizer(vocab)
    return tokenizer.tokenize(texts)


def detokenize_tf(ids, vocab) -> tf.Tensor:
    tokenizer = vocab if isinstance(vocab, SubwordTokenizer) else SubwordTokenizer(vocab)
    return tokenizer.detokenize(ids)
