"""`keras_rnn.data.tokens.tokenize` (word and character level) in plain Python, for the LiteRT
hosts: the same tokens as the TensorFlow ops give, without TensorFlow.

What the TF ops do, and so what this does:
- lowercase (when asked): ICU's full Unicode lowercasing (`ΟΔΟΣ` -> `οδος`, final sigma; `İ` -> `i̇`,
  two code points), which stops at a NUL character;
- RE2's `\\s+` -> one space: ASCII `\\t \\n \\f \\r` and space only (not `\\v`, not `\\xa0`);
  then the ends are stripped of ASCII whitespace, `\\v` included;
- characters: one token per code point (`\\xa0`, `\\u3000` are tokens like any other);
- words: every character that is not a letter (`\\pL`), a number (`\\pN`), a space or `'`
  becomes a token of its own, then the text is split at ASCII whitespace (`\\v` included).

TensorFlow 2.21's tables are not Python's: RE2 knows the letters and numbers of Unicode 15.0,
ICU lowercases by Unicode 13, Python 3.11 has Unicode 14.0. The two tables below close those
gaps (tests/test_classify_host.py compares every code point with TensorFlow).
"""

from __future__ import annotations

import re
import unicodedata

ASCII_SPACE = " \t\n\v\f\r"  # what TF's strip and whitespace split take
_RE2_SPACES = re.compile(r"[ \t\n\f\r]+")  # RE2's \s
_SPLIT = re.compile(r"[ \t\n\v\f\r]+")

# Letters and numbers of Unicode 15.0 (RE2's) that Python 3.11's Unicode 14.0 leaves unassigned
_NEWER_LETTERS = (
    (0x1123F, 0x11240),
    (0x11F02, 0x11F02),
    (0x11F04, 0x11F10),
    (0x11F12, 0x11F33),
    (0x11F50, 0x11F59),
    (0x1342F, 0x1342F),
    (0x13441, 0x13446),
    (0x1B132, 0x1B132),
    (0x1B155, 0x1B155),
    (0x1D2C0, 0x1D2D3),
    (0x1DF25, 0x1DF2A),
    (0x1E030, 0x1E06D),
    (0x1E4D0, 0x1E4EB),
    (0x1E4F0, 0x1E4F9),
    (0x2B739, 0x2B739),
    (0x31350, 0x323AF),
)
# Capitals of Unicode 14.0 that ICU's Unicode 13 tables do not lowercase (Python's do)
_NOT_LOWERED = "\u2c2f\ua7c0\ua7d0\ua7d6\ua7d8" + "".join(
    chr(c) for c in range(0x10570, 0x10596) if c not in (0x1057B, 0x1058B, 0x10593)
)
_LOWERED_RUNS = re.compile(f"[^{_NOT_LOWERED}]+")


def lower(text: str) -> str:
    """`tf.strings.lower(text, encoding="utf-8")`."""
    text = text.split("\0", 1)[0]
    return _LOWERED_RUNS.sub(lambda m: m.group().lower(), text)


def in_word(char: str) -> bool:
    """Whether RE2's `[\\pL\\pN\\s']` (space already normalised) holds `char`."""
    if char in " '" or unicodedata.category(char)[0] in "LN":
        return True
    code = ord(char)
    return code >= 0x1123F and any(a <= code <= b for a, b in _NEWER_LETTERS)


def tokenize(text: str, level: str, lowercase: bool) -> list[str]:
    """The tokens `keras_rnn.data.tokens.tokenize` gives for one text (`level` char or word)."""
    if lowercase:
        text = lower(text)
    text = _RE2_SPACES.sub(" ", text).strip(ASCII_SPACE)
    if level == "char":
        return list(text)
    if level != "word":
        raise ValueError(f"level must be char or word, not {level!r}")
    return [token for token in _SPLIT.split("".join(c if in_word(c) else f" {c} " for c in text)) if token]
