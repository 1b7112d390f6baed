"""Cased subword vocabulary: learning (BPE merges), and a pure-Python tokenizer.

This module imports only the standard library, so the LiteRT host can tokenize
without TensorFlow; `keras_rnn.data.subword.SubwordTokenizer` is the same
tokenizer in core TF ops (inside the SavedModel), and gives the same ids (tested).

Pipeline (identical in both, except step 1, which core TF cannot do):
1. NFKC (Python only: where text enters — files, the host. SavedModel clients
   send composed NFC text, the project's rule);
2. clean: drop NUL, lone surrogates -> U+FFFD (TF: invalid UTF-8 -> U+FFFD, the
   same characters as Python's bytes.decode("utf-8", "replace")),
   optional lowercase, every whitespace character (Python's `str.isspace`, as an
   explicit class) and U+2581 -> one space per run, strip;
3. pre-tokens, SentencePiece style: a space becomes the marker "▁" on the piece
   after it (and a "▁" starts the text), then a pre-token is "▁"? + a run of word
   characters (the letters and marks seen in training) or "▁"? + one other
   character (punctuation, symbol, digit, or a character never seen):
   "Don't stop!" -> ▁Don ' t ▁stop !  ·  "Va !" -> ▁Va ▁!  ·  "¿Qué?" -> ▁¿ Qué ?
4. WordPiece-style greedy longest match over each pre-token against the pieces
   (every character seen in training is a piece; an unseen one is [UNK]).
Detokenization joins the pieces, turns "▁" into spaces, collapses and strips:
detok(tok(s)) == clean(NFKC(s)) for every s whose characters were all seen.

Ids: 0 padding "", 1 "[UNK]", then the specials (e.g. <start>, <end>), then the
pieces. The tokenizer never produces a special: "<end>" in text is < end >.

Why character classes are explicit lists (not \\pL or \\s): Python's `re` and
TF's RE2 disagree on what \\s means and ship different Unicode versions; listing
the characters makes both sides equal by construction, whatever the versions.
"""

from __future__ import annotations

import heapq
import json
import re
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path

PAD, UNKNOWN = "", "[UNK]"
PAD_ID, UNKNOWN_ID = 0, 1
MARKER = "\u2581"  # ▁, "a space was here"
UNKNOWN_TEXT = UNKNOWN  # what detokenization writes for id 1
FORMAT = "keras-rnn subword vocabulary"
VERSION = 1

# Exactly the characters for which Python's str.isspace() is true (a test checks).
WHITESPACE = (
    "\t\n\v\f\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + "\u2028\u2029\u202f\u205f\u3000"
)
# Letters that Python (Unicode 14) lowercases and TF 2.21's ICU (older Unicode)
# leaves as they are; kept unchanged on both sides (tests compare every code point).
TF_DOES_NOT_LOWER = frozenset(
    "\u2c2f\ua7c0\ua7d0\ua7d6\ua7d8"
    + "".join(chr(c) for c in range(0x10570, 0x10596) if c not in (0x1057B, 0x1058B, 0x10593))
)


def char_class(chars, negate: bool = False, flavor: str = "python") -> str:
    """A regex character class listing `chars` as code-point ranges, valid in Python `re`
    ("python") and in RE2 ("re2", what tf.strings.regex_* use)."""
    points = sorted({ord(c) for c in chars})
    if not points:
        raise ValueError("empty character class")
    escape = (lambda p: f"\\x{{{p:x}}}") if flavor == "re2" else (lambda p: f"\\U{p:08x}")
    ranges, start = [], points[0]
    for previous, point in zip(points, points[1:] + [-1]):
        if point != previous + 1:  # a range ends at `previous`
            ranges.append(escape(start) if start == previous else f"{escape(start)}-{escape(previous)}")
            start = point
    return "[" + ("^" if negate else "") + "".join(ranges) + "]"


WHITESPACE_RUN = char_class(WHITESPACE + MARKER) + "+"
WHITESPACE_RUN_RE2 = char_class(WHITESPACE + MARKER, flavor="re2") + "+"
_WHITESPACE_RUN = re.compile(WHITESPACE_RUN)
_SURROGATE = re.compile("[\ud800-\udfff]")
_NOT_LOWERED = re.compile("(" + char_class(TF_DOES_NOT_LOWER) + ")")
_SPACES = re.compile(" +")


def lower(text: str) -> str:
    """str.lower() as tf.strings.lower(encoding="utf-8") does it in TF 2.21."""
    if not _NOT_LOWERED.search(text):
        return text.lower()
    return "".join(part if part in TF_DOES_NOT_LOWER else part.lower() for part in _NOT_LOWERED.split(text))


def clean(text: str, lowercase: bool = False) -> str:
    """What the tokenizer does to text before cutting it (TF does exactly this too):
    drop NUL, lone surrogates -> U+FFFD, optional lowercase, whitespace/▁ runs -> " ", strip."""
    text = _SURROGATE.sub("\ufffd", text.replace("\x00", ""))
    if lowercase:
        text = lower(text)
    return _WHITESPACE_RUN.sub(" ", text).strip(" ")


def normalize(text: str, lowercase: bool = False) -> str:
    """The documented normalisation: NFKC, then `clean` (whitespace collapsed, stripped).
    Detokenization gives back exactly this for text whose characters were seen in training."""
    return clean(unicodedata.normalize("NFKC", text), lowercase)


def is_word_char(char: str) -> bool:
    """Letters and combining marks make words; digits, punctuation and symbols stand alone."""
    return unicodedata.category(char)[0] in "LM"


def pretoken_pattern(word_chars: str, flavor: str = "python") -> str:
    """`▁? (word-char+ | one other character)`, the same pattern for `re` and RE2."""
    marker = char_class(MARKER, flavor=flavor)
    other = char_class(set(word_chars) | {MARKER}, negate=True, flavor=flavor)
    if not word_chars:
        return f"({marker}?{other})"
    return f"({marker}?(?:{char_class(word_chars, flavor=flavor)}+|{other}))"


def mark_spaces(cleaned: str) -> str:
    """ "Don't stop" -> "▁Don't▁stop" (nothing for an empty text)."""
    return MARKER + cleaned.replace(" ", MARKER) if cleaned else ""


class SubwordVocabulary:
    """The pieces (learned from training text), the word characters and the options:
    everything both tokenizers need, saved as one JSON file."""

    def __init__(
        self,
        pieces,
        word_chars: str,
        lowercase: bool = False,
        specials=("<start>", "<end>"),
        max_piece_chars: int = 16,
    ):
        self.pieces, self.specials = list(pieces), list(specials)
        self.word_chars = "".join(sorted(set(word_chars)))
        self.lowercase, self.max_piece_chars = bool(lowercase), int(max_piece_chars)
        reserved = [PAD, UNKNOWN, *self.specials]
        if len(set(reserved)) != len(reserved):
            raise ValueError(f"specials must be distinct and not '' or {UNKNOWN}: {self.specials}")
        if len(set(self.pieces)) != len(self.pieces) or set(self.pieces) & set(reserved):
            raise ValueError("pieces must be distinct and differ from the specials")
        if any(len(p) > self.max_piece_chars for p in self.pieces):
            raise ValueError(f"a piece is longer than max_piece_chars={self.max_piece_chars}")

    # ids ------------------------------------------------------------------
    @property
    def first_piece_id(self) -> int:
        return 2 + len(self.specials)

    @property
    def tokens(self) -> list[str]:
        """Id -> string: "", "[UNK]", the specials, the pieces."""
        return [PAD, UNKNOWN, *self.specials, *self.pieces]

    def __len__(self) -> int:
        return self.first_piece_id + len(self.pieces)

    def id_of(self, token: str) -> int:
        return self.tokens.index(token)

    # learning -------------------------------------------------------------
    @classmethod
    def learn(
        cls,
        texts,
        size: int,
        lowercase: bool = False,
        specials=("<start>", "<end>"),
        max_piece_chars: int = 16,
        min_count: int = 2,
    ) -> SubwordVocabulary:
        """BPE (Sennrich et al. 2016) on pre-token frequencies: start from every character seen,
        merge the most frequent adjacent pair (ties: the smaller pair of strings) until `size`
        pieces, or no pair is seen `min_count` times. Deterministic for the same texts."""
        if size < 1:
            raise ValueError("size must be at least 1")
        cleaned = [normalize(t, lowercase) for t in texts]
        chars = Counter()
        for text in cleaned:
            chars.update(text)
        chars.pop(" ", None)
        chars[MARKER] += sum(1 for t in cleaned if t) + sum(t.count(" ") for t in cleaned)
        word_chars = "".join(c for c in chars if is_word_char(c))
        split = re.compile(pretoken_pattern(word_chars)).findall
        counts = Counter()
        for text in cleaned:
            counts.update(split(mark_spaces(text)))
        alphabet = sorted(chars, key=lambda c: (-chars[c], c))
        pieces = bpe(counts, alphabet, size, max_piece_chars, min_count)
        return cls(pieces, word_chars, lowercase, specials, max_piece_chars)

    # files ----------------------------------------------------------------
    def to_json(self) -> dict:
        return {
            "format": FORMAT,
            "version": VERSION,
            "lowercase": self.lowercase,
            "specials": self.specials,
            "max_piece_chars": self.max_piece_chars,
            "word_chars": self.word_chars,
            "pieces": self.pieces,
        }

    @classmethod
    def from_json(cls, data: dict) -> SubwordVocabulary:
        if data.get("format") != FORMAT or data.get("version") != VERSION:
            raise ValueError(f"not a {FORMAT} (version {VERSION})")
        return cls(
            data["pieces"], data["word_chars"], data["lowercase"], data["specials"], data["max_piece_chars"]
        )

    def save(self, path):
        Path(path).write_text(json.dumps(self.to_json(), ensure_ascii=False) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path) -> SubwordVocabulary:
        return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))

    def __eq__(self, other):
        return isinstance(other, SubwordVocabulary) and self.to_json() == other.to_json()


def bpe(counts: Counter, alphabet: list[str], size: int, max_piece_chars: int, min_count: int) -> list[str]:
    """Pieces = `alphabet` + merged pairs, most frequent first, with incremental pair counts."""
    words = [list(w) for w in counts]
    freqs = list(counts.values())
    pair_counts, where = defaultdict(int), defaultdict(set)
    for i, (symbols, freq) in enumerate(zip(words, freqs)):
        for pair in zip(symbols, symbols[1:]):
            pair_counts[pair] += freq
            where[pair].add(i)
    heap = [(-c, a, b) for (a, b), c in pair_counts.items() if len(a) + len(b) <= max_piece_chars]
    heapq.heapify(heap)
    pieces, known = list(alphabet), set(alphabet)
    while len(pieces) < size and heap:
        count, a, b = heapq.heappop(heap)
        if pair_counts.get((a, b), 0) != -count:
            continue  # stale entry: the pair's count changed since
        if -count < min_count:
            break
        merged = a + b
        if merged not in known:
            pieces.append(merged)
            known.add(merged)
        changed = set()
        for i in where.pop((a, b)):
            old, freq = words[i], freqs[i]
            new, j = [], 0
            while j < len(old):
                if j + 1 < len(old) and old[j] == a and old[j + 1] == b:
                    new.append(merged)
                    j += 2
                else:
                    new.append(old[j])
                    j += 1
            if len(new) == len(old):
                continue
            for pair in zip(old, old[1:]):
                pair_counts[pair] -= freq
                changed.add(pair)
            for pair in zip(new, new[1:]):
                pair_counts[pair] += freq
                where[pair].add(i)
                changed.add(pair)
            words[i] = new
        pair_counts.pop((a, b), None)
        for pair in changed:
            c = pair_counts.get(pair, 0)
            if c > 0 and len(pair[0]) + len(pair[1]) <= max_piece_chars and pair != (a, b):
                heapq.heappush(heap, (-c, *pair))
            elif c <= 0:
                pair_counts.pop(pair, None)
    return pieces


class SubwordTokenizerPy:
    """The SavedModel's tokenizer in plain Python (no TensorFlow): same ids, same text."""

    def __init__(self, vocab: SubwordVocabulary):
        self.vocab = vocab
        self.lowercase, self.max_piece_chars = vocab.lowercase, vocab.max_piece_chars
        self.piece_ids = {p: i for i, p in enumerate(vocab.pieces, start=vocab.first_piece_id)}
        self.id_texts = [PAD, UNKNOWN_TEXT] + [""] * len(vocab.specials) + vocab.pieces
        self._split = re.compile(pretoken_pattern(vocab.word_chars)).findall
        self._cache: dict[str, list[int]] = {}

    @classmethod
    def load(cls, path) -> SubwordTokenizerPy:
        return cls(SubwordVocabulary.load(path))

    def pretokens(self, text: str, nfkc: bool = True) -> list[str]:
        text = unicodedata.normalize("NFKC", text) if nfkc else text
        return self._split(mark_spaces(clean(text, self.lowercase)))

    def _piece_ids(self, word: str) -> list[int]:
        ids = self._cache.get(word)
        if ids is None:
            ids, i, n = [], 0, len(word)
            while i < n:
                for length in range(min(self.max_piece_chars, n - i), 0, -1):
                    piece_id = self.piece_ids.get(word[i : i + length])
                    if piece_id is not None:
                        ids.append(piece_id)
                        i += length
                        break
                else:
                    ids.append(UNKNOWN_ID)
                    i += 1
            if len(self._cache) > 200_000:
                self._cache.clear()
            self._cache[word] = ids
        return ids

    def tokenize(self, text: str, nfkc: bool = True) -> list[int]:
        """Text -> ids. `nfkc=False` skips NFKC, as the SavedModel does (for NFKC text it is the same)."""
        return [i for word in self.pretokens(text, nfkc) for i in self._piece_ids(word)]

    def pieces(self, text: str, nfkc: bool = True) -> list[str]:
        """Text -> piece strings (for reading, debugging)."""
        return [self.id_texts[i] for i in self.tokenize(text, nfkc)]

    def detokenize(self, ids) -> str:
        """Ids -> text: padding and specials vanish, [UNK] (and ids out of range) read "[UNK]"."""
        n = len(self.id_texts)
        text = "".join(self.id_texts[i] if 0 <= i < n else UNKNOWN_TEXT for i in map(int, ids))
        return _SPACES.sub(" ", text.replace(MARKER, " ")).strip(" ")
