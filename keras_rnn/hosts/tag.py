"""Reference host for the LiteRT tagger (`--task tag`), with numpy and ai_edge_litert only.

What an app does with `tag_tag.tflite`: split a text into words as the SavedModel does
(lowercased, punctuation dropped: `keras_rnn.data.punctuation.words_of`), look up each word and
its last three characters in `tag.json`, zero-pad to the model's fixed length (`length`, twice
the longest training sequence), give the true length, take the most probable tag per word. The
tags are the SavedModel's (tests check); texts with more words than the fixed length are refused
(the SavedModel takes up to 1,000).

    python -m keras_rnn.hosts.tag saved_models/litert/tag/1/tag_tag.tflite \\
        saved_models/litert/tag/1/tag.json "and god said let there be light"

prints `text<TAB>restored text<TAB>tags` per text (the tags space-separated; tags outside the
punctuation scheme, e.g. NER, restore nothing: the text itself).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from keras_rnn import UserError, report_errors
from keras_rnn.data import punctuation
from keras_rnn.hosts import check_text, load_litert, read_metadata
from keras_rnn.limits import MAX_TAG_WORDS

UNKNOWN_ID = 1  # ids: 0 padding, 1 unknown, then the vocabulary's words (or word endings)


class TagLiteRT:
    def __init__(self, tflite_path, metadata_path, num_threads: int = 1):
        meta = read_metadata(
            metadata_path,
            "tag",
            {"tags": list, "words": list, "suffixes": list, "length": int, "suffix_chars": int},
        )
        for key in ("tags", "words", "suffixes"):
            if not all(isinstance(t, str) for t in meta[key]):
                raise ValueError(f"{metadata_path}: '{key}' must be strings")
        length, self.suffix_chars = meta["length"], meta["suffix_chars"]
        if not 1 <= length <= MAX_TAG_WORDS or self.suffix_chars < 1:
            raise ValueError(f"{metadata_path}: 'length' {length} is not in [1, {MAX_TAG_WORDS}]")
        self.tags, self.length = meta["tags"], length
        self.word_ids = {w: i for i, w in enumerate(meta["words"]) if i > UNKNOWN_ID}
        self.suffix_ids = {s: i for i, s in enumerate(meta["suffixes"]) if i > UNKNOWN_ID}
        self.interpreter = Interpreter(model_path=str(tflite_path), num_threads=num_threads)
        self.interpreter.allocate_tensors()
        runner = self.interpreter.get_signature_runner("tag")
        inputs, outputs = runner.get_input_details(), runner.get_output_details()
        del runner  # it holds the interpreter's buffers: set_tensor and invoke refuse to run beside it
        if set(inputs) != {"words", "suffixes", "lengths"} or set(outputs) != {"probabilities"}:
            raise ValueError(
                f"{tflite_path} takes {sorted(inputs)}, not words, suffixes, lengths: another task's?"
            )
        found = inputs["words"]["shape"].tolist(), outputs["probabilities"]["shape"].tolist()
        if found != ([1, length], [1, length, len(self.tags)]):
            raise ValueError(
                f"the metadata says {length} words and {len(self.tags)} tags, {tflite_path} takes "
                f"words {found[0]} and gives probabilities {found[1]}"
            )
        self.inputs = {name: d["index"] for name, d in inputs.items()}
        self.output = outputs["probabilities"]["index"]
        try:  # the largest ids the metadata can give must be the model's
            self.probabilities([len(meta["words"]) - 1], [len(meta["suffixes"]) - 1])
        except RuntimeError:
            raise ValueError(
                f"{metadata_path} has more words or word endings than {tflite_path} knows"
            ) from None

    def probabilities(self, word_ids: list[int], suffix_ids: list[int]) -> np.ndarray:
        """Tag probabilities [words, C] of one text's ids."""
        steps = len(word_ids)
        fixed = np.zeros([2, 1, self.length], np.int32)
        fixed[0, 0, :steps], fixed[1, 0, :steps] = word_ids, suffix_ids
        self.interpreter.set_tensor(self.inputs["words"], fixed[0])
        self.interpreter.set_tensor(self.inputs["suffixes"], fixed[1])
        self.interpreter.set_tensor(self.inputs["lengths"], np.array([steps], np.int32))
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output)[0, :steps]

    def words(self, text: str) -> list[str]:
        """The words the SavedModel reads of `text`, refused over the limits."""
        check_text(text)
        words = punctuation.words_of(text)
        if len(words) > self.length:
            shown = text if len(text) <= 40 else text[:40] + "..."
            raise UserError(
                f"{shown!r} has {len(words)} words, over the LiteRT model's fixed length {self.length} "
                "(twice the longest training sequence): cut it, or send it to the SavedModel"
            )
        return words

    def tag(self, text: str) -> tuple[list[str], list[str]]:
        """(words, their tags); an empty text has none."""
        words = self.words(text)
        if not words:
            return [], []
        word_ids = [self.word_ids.get(w, UNKNOWN_ID) for w in words]
        suffix_ids = [self.suffix_ids.get(w[-self.suffix_chars :], UNKNOWN_ID) for w in words]
        best = np.argmax(self.probabilities(word_ids, suffix_ids), axis=-1)
        return words, [self.tags[i] for i in best]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tflite")
    parser.add_argument("metadata")
    parser.add_argument("texts", nargs="+", metavar="TEXT", help="texts to punctuate and capitalise")
    args = parser.parse_args(argv)

    def run():
        model = load_litert(TagLiteRT, args.tflite, args.metadata)
        answers = [model.tag(text) for text in args.texts]  # every text checked before the first answer
        for text, (words, tags) in zip(args.texts, answers):
            restored = punctuation.restore(words, tags) if punctuation.is_scheme(model.tags) else text
            print(f"{text}\t{restored}\t{' '.join(tags)}")

    return report_errors(run, also=(OSError,))


if __name__ == "__main__":
    sys.exit(main())
