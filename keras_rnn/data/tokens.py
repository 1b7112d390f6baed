"""Tokens for translation and captioning: tokenization, detokenization, vocabularies.

Everything here is TF string ops + `StringLookup`, so the exported models take raw
strings. Ids are the same in every token vocabulary: 0 padding, 1 unknown, then the
vocabulary's own list (its special tokens first).

Core TF has no Unicode normalisation op (tensorflow-text's is a custom op TF Serving
lacks), so NFKC happens in Python where text enters (pair and caption files, the
LiteRT hosts); SavedModel clients send composed (NFC) text, as keyboards do.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import keras
import tensorflow as tf

START, END, PAD, UNKNOWN = "<start>", "<end>", "", "[UNK]"
PAD_ID, UNKNOWN_ID = 0, 1

# Word-level output is tokens joined by spaces; these rules glue punctuation back
# ("je suis là !" -> "je suis là!", "est - ce" -> "est-ce"), the same in the graph, in scoring
# and in the LiteRT hosts (keras_rnn.hosts.encoder_decoder has a copy; a test keeps them equal).
DETOKENIZE = ((r" ([.,!?;:%)\]}»…])", r"\1"), (r"([(\[{«¿¡]) ", r"\1"), (r"(\w) ([-’]) (\w)", r"\1\2\3"))
MARKER = "\u2581"  # subword pieces: "a space was here" (keras_rnn.data.subword_py)


def tokenize(texts, level: str, lowercase: bool) -> tf.RaggedTensor:
    """Strings [N] -> ragged tokens: words (punctuation apart) or characters, lowercased or not."""
    if lowercase:
        texts = tf.strings.lower(texts, encoding="utf-8")
    texts = tf.strings.strip(tf.strings.regex_replace(texts, r"\s+", " "))
    if level == "char":
        return tf.strings.unicode_split(texts, "UTF-8")
    return tf.strings.split(tf.strings.regex_replace(texts, r"([^\pL\pN\s'])", r" \1 "))


def detokenize(texts, level: str):
    """Joined tokens [N] -> text [N] (TF ops): subword pieces' markers become spaces; word
    tokens get their punctuation glued back; character level needs nothing."""
    if level == "char":
        return texts
    if level == "subword":
        return tf.strings.strip(
            tf.strings.regex_replace(tf.strings.regex_replace(texts, MARKER, " "), " +", " ")
        )
    for pattern, rewrite in DETOKENIZE:
        texts = tf.strings.regex_replace(texts, pattern, rewrite)
    return texts


def join_tokens(tokens: tf.RaggedTensor, level: str):
    """Ragged tokens [N, None] -> detokenized text [N]."""
    separator = " " if level == "word" else ""
    return detokenize(tf.strings.reduce_join(tokens, axis=1, separator=separator), level)


def normalized(texts: list[str], level: str, lowercase: bool) -> list[str]:
    """Texts as a word- or character-level model writes them (tokens joined back)."""
    tokens = tokenize(tf.constant(texts), level, lowercase)
    return [t.decode("utf-8") for t in join_tokens(tokens, level).numpy()]


class TokenVocabulary:
    """A word or character list: id 0 padding, 1 unknown, then `words` (special tokens first)."""

    def __init__(self, words: list[str]):
        self.words = list(words)

    @classmethod
    def build(cls, texts, level: str, size: int, specials=(), lowercase: bool = True) -> TokenVocabulary:
        """The `specials`, then the `size` most frequent tokens of `texts`."""
        counts = Counter(tokenize(tf.constant(texts), level, lowercase).flat_values.numpy())
        words = [t.decode("utf-8") for t, _ in counts.most_common(size)]
        return cls(list(specials) + [w for w in words if w not in specials])

    def __len__(self) -> int:
        """Ids in use, padding and unknown included."""
        return len(self.words) + 2

    @property
    def tokens(self) -> list[str]:
        """Id -> token."""
        return [PAD, UNKNOWN, *self.words]

    def lookup(self) -> keras.layers.StringLookup:
        return keras.layers.StringLookup(
            vocabulary=self.words, mask_token=PAD, oov_token=UNKNOWN, output_mode="int"
        )


def token_ids(tokens: tf.RaggedTensor, lookup, start_id: int | None = None, end_id: int | None = None):
    """Ragged tokens -> ragged int32 ids, with `start_id` before and `end_id` after each row."""
    return wrap_ids(tf.cast(tf.ragged.map_flat_values(lookup, tokens), tf.int32), start_id, end_id)


def wrap_ids(ids: tf.RaggedTensor, start_id: int | None = None, end_id: int | None = None):
    """Ragged ids with `start_id` put before and `end_id` after each row (None: nothing)."""
    n = ids.nrows()
    parts = [ids]
    if start_id is not None:
        parts.insert(0, tf.RaggedTensor.from_tensor(tf.fill([n, 1], start_id)))
    if end_id is not None:
        parts.append(tf.RaggedTensor.from_tensor(tf.fill([n, 1], end_id)))
    return tf.concat(parts, axis=1) if len(parts) > 1 else ids


def save_json(path, data: dict) -> None:
    Path(path).write_text(json.dumps(data, ensure_ascii=False) + "\n", encoding="utf-8")


def load_json(path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))
