"""CoNLL-style tagged sequences (`--task tag`), read and checked without TensorFlow.

A file is UTF-8 text: one `token<TAB>tag` line per word (the tag after the last tab), a blank
line between sequences. Anything a tagger cannot take is one UserError naming the file and the
line: an empty file, a line without a tab, an empty token or tag, a sequence longer than
`keras_rnn.limits.MAX_TAG_WORDS`; in a validation or test file, a tag training never has.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from keras_rnn import UserError
from keras_rnn.data import labelled, require_file
from keras_rnn.limits import MAX_TAG_WORDS


@dataclass
class TaggedText:
    words: list[list[str]]  # one list per sequence
    tags: list[list[str]]
    source: str = ""
    lines: list[int] = field(default_factory=list)  # the line each sequence starts on
    tag_names: list[str] | None = None  # a named set's tags (its ClassLabel's names), seen or not

    def __len__(self) -> int:
        return len(self.words)

    @property
    def texts(self) -> list[str]:
        """Each sequence as the served model takes it: its words joined by spaces."""
        return [" ".join(words) for words in self.words]

    def take(self, indices) -> TaggedText:
        pick = lambda values: [values[i] for i in indices]  # noqa: E731
        return dataclasses.replace(self, words=pick(self.words), tags=pick(self.tags), lines=pick(self.lines))


def read_conll(path) -> TaggedText:
    """A CoNLL file of `token<TAB>tag` lines, sequences separated by blank lines."""
    path = require_file(path, "a UTF-8 CoNLL file (token<TAB>tag per line, a blank line between sequences)")
    out = TaggedText([], [], str(path))
    words, tags = [], []

    def close():
        if words:
            out.words.append(list(words))
            out.tags.append(list(tags))
            words.clear()
            tags.clear()

    for number, line in labelled._numbered_lines(labelled._decoded(path)):
        if not line.strip():
            close()
            continue
        if "\t" not in line:
            labelled._fail(
                path, number, "no tab: each line is token<TAB>tag (a blank line between sequences)"
            )
        token, _, tag = line.rpartition("\t")
        token, tag = token.strip(), tag.strip()
        if not token or not tag:
            labelled._fail(
                path, number, f"an empty {'token' if not token else 'tag'}: each line is token<TAB>tag"
            )
        if not words:
            out.lines.append(number)
        words.append(token)
        tags.append(tag)
        if len(words) > MAX_TAG_WORDS:
            labelled._fail(
                path,
                out.lines[-1],
                f"a sequence of more than {MAX_TAG_WORDS:,} words: split it with blank lines",
            )
    close()
    if not out.words:
        labelled._fail(path, 1, "only blank lines: give token<TAB>tag lines")
    return out


def tag_set(data: TaggedText) -> list[str]:
    """The run's tags: a named set's own list, else the tags training holds, sorted."""
    return list(data.tag_names) if data.tag_names else sorted({tag for tags in data.tags for tag in tags})


def check_tags(data: TaggedText, training: TaggedText) -> None:
    """Refuse held-out sequences with a tag that training never has (naming its line)."""
    known = set(tag_set(training))
    for tags, start in zip(data.tags, data.lines):
        for offset, tag in enumerate(tags):
            if tag not in known:
                labelled._fail(
                    data.source,
                    start + offset,
                    f"tag {tag!r} never occurs in the training data ({training.source}), so no model "
                    f"trained on it can predict it; its tags: {labelled._listed(sorted(known))}",
                )


def hold_out(data: TaggedText, fraction: float, seed: int) -> tuple[TaggedText, TaggedText]:
    """(training, validation): a seeded share `fraction` of the sequences held out."""
    if len(data) < 2:
        raise UserError(f"{data.source}: one sequence cannot be split for validation; give --validation-file")
    order = np.random.default_rng(seed).permutation(len(data))
    held = max(1, round(fraction * len(data)))
    return data.take(sorted(order[held:])), data.take(sorted(order[:held]))
