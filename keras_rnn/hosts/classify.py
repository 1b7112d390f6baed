"""Reference host for the LiteRT classifier (`--task classify`), with numpy and ai_edge_litert only.

What an app does with `classify_classify.tflite`: zero-pad one series (or one text's token ids)
to the model's fixed length (`length` in `classify.json`, twice the longest training sequence),
give its true length, read the class probabilities. Series come from a .ts or .csv file (read by
`keras_rnn.data.labelled`, as training reads them); texts are tokenized as the SavedModel does
(`keras_rnn.data.tokens_py`). The labels are the SavedModel's (tests check). Longer series or
texts than the fixed length, series with another feature count, are refused (the SavedModel
takes up to 10,000 steps).

    python -m keras_rnn.hosts.classify saved_models/litert/classify/1/classify_classify.tflite \
        saved_models/litert/classify/1/classify.json series.ts

prints `FILE:LINE<TAB>label<TAB>probability` per series (`text<TAB>label<TAB>probability` per text).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from keras_rnn import UserError, report_errors
from keras_rnn.data import labelled, tokens_py
from keras_rnn.hosts import check_text, load_litert, read_metadata
from keras_rnn.limits import MAX_SERIES_FEATURES, MAX_SERIES_STEPS, MAX_TEXT_CHARS

UNKNOWN_ID = 1  # ids: 0 padding, 1 unknown, then the vocabulary's tokens


class ClassifyLiteRT:
    def __init__(self, tflite_path, metadata_path, num_threads: int = 1):
        meta = read_metadata(metadata_path, "classify", {"labels": list, "length": int, "kind": str})
        kind, length, labels = meta["kind"], meta["length"], meta["labels"]
        if kind not in ("series", "text"):
            raise ValueError(f"{metadata_path}: 'kind' is {kind!r}, not series or text")
        if not all(isinstance(label, str) for label in labels):
            raise ValueError(f"{metadata_path}: 'labels' must be strings")
        limit = MAX_SERIES_STEPS if kind == "series" else MAX_TEXT_CHARS
        if not 1 <= length <= limit:
            raise ValueError(f"{metadata_path}: 'length' {length} is not in [1, {limit}]")
        if kind == "series":
            read_metadata(metadata_path, "classify", {"features": int})
            if not 1 <= meta["features"] <= MAX_SERIES_FEATURES:
                raise ValueError(f"{metadata_path}: 'features' {meta['features']} is not a feature count")
            first, shape = "series", [1, length, meta["features"]]
        else:
            read_metadata(metadata_path, "classify", {"tokens": list, "level": str})
            tokens = meta["tokens"]
            if (
                meta["level"] not in ("char", "word")
                or not isinstance(meta.get("lowercase", False), bool)
                or not all(isinstance(t, str) for t in tokens)
            ):
                raise ValueError(
                    f"{metadata_path}: a text model needs 'level' char or word, 'lowercase' true or "
                    "false and 'tokens' (strings)"
                )
            self.ids = {token: i for i, token in enumerate(tokens) if i > UNKNOWN_ID}
            first, shape = "tokens", [1, length]
        self.meta, self.kind, self.length, self.labels = meta, kind, length, labels
        self.interpreter = Interpreter(model_path=str(tflite_path), num_threads=num_threads)
        self.interpreter.allocate_tensors()
        runner = self.interpreter.get_signature_runner("classify")
        inputs, outputs = runner.get_input_details(), runner.get_output_details()
        del runner  # it holds the interpreter's buffers: set_tensor and invoke refuse to run beside it
        if set(inputs) != {first, "lengths"} or set(outputs) != {"probabilities"}:
            raise ValueError(
                f"{tflite_path} takes {sorted(inputs)}, not {sorted({first, 'lengths'})}: "
                f"a model of another task, or of a {'text' if kind == 'series' else 'series'} classifier?"
            )
        found = inputs[first]["shape"].tolist(), outputs["probabilities"]["shape"].tolist()
        if found != (shape, [1, len(labels)]):
            raise ValueError(
                f"the metadata says {first} {shape} and {len(labels)} labels, {tflite_path} takes "
                f"{first} {found[0]} and gives probabilities {found[1]}"
            )
        self.inputs = {name: d["index"] for name, d in inputs.items()}
        self.first, self.output = first, outputs["probabilities"]["index"]
        if kind == "text":  # the largest id the metadata can give must be one of the model's
            try:
                self.probabilities(np.array([len(meta["tokens"]) - 1], np.int32))
            except RuntimeError:
                raise ValueError(
                    f"{metadata_path} has {len(meta['tokens'])} tokens, more than {tflite_path} knows"
                ) from None

    # ---------------------------------------------------------------- one sequence
    def probabilities(self, sequence: np.ndarray) -> np.ndarray:
        """Class probabilities [C] of one series [T, F] (float) or one text's token ids [T]."""
        steps = len(sequence)
        if steps > self.length:
            raise UserError(f"{steps} steps, over the model's fixed length {self.length}")
        dtype = np.float32 if self.kind == "series" else np.int32
        fixed = np.zeros([1, self.length, *np.shape(sequence)[1:]], dtype)
        fixed[0, :steps] = sequence
        self.interpreter.set_tensor(self.inputs[self.first], fixed)
        self.interpreter.set_tensor(self.inputs["lengths"], np.array([steps], np.int32))
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output)[0]

    def answer(self, sequence) -> tuple[str, float]:
        """(label, its probability); the first of equally probable labels, as the SavedModel."""
        probs = self.probabilities(sequence)
        if not np.all(np.isfinite(probs)):  # as the SavedModel: refused, never NaN
            raise UserError("the answer overflowed float32: the input values are too large")
        best = int(np.argmax(probs))
        return self.labels[best], float(probs[best])

    # ---------------------------------------------------------------- series
    def read_series(self, path) -> labelled.LabelledSeries:
        """A .ts / .csv file's series, refused (naming the line) if one does not fit the model."""
        data = labelled.read_labelled_series(path)
        if data.features != self.meta["features"]:
            raise UserError(
                f"{path}, line {data.lines[0]}: {data.features} features per time step; the model "
                f"reads {self.meta['features']}"
            )
        for series, line in zip(data.series, data.lines):
            if len(series) > self.length:
                raise UserError(
                    f"{path}, line {line}: {len(series)} time steps, over the LiteRT model's fixed "
                    f"length {self.length} (twice the longest training series): cut the series, or "
                    f"send it to the SavedModel (up to {MAX_SERIES_STEPS:,} steps)"
                )
        return data

    # ---------------------------------------------------------------- text
    def token_ids(self, text: str) -> list[int]:
        """The ids the SavedModel's tokenizer gives `text`, refused over the model's fixed length."""
        check_text(text)
        tokens = tokens_py.tokenize(text, self.meta["level"], self.meta.get("lowercase", False))
        if len(tokens) > self.length:
            shown = text if len(text) <= 40 else text[:40] + "..."
            raise UserError(
                f"{shown!r} has {len(tokens)} tokens, over the LiteRT model's fixed length "
                f"{self.length} (twice the longest training text): cut it, or send it to the SavedModel"
            )
        return [self.ids.get(token, UNKNOWN_ID) for token in tokens]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tflite")
    parser.add_argument("metadata")
    parser.add_argument(
        "inputs", nargs="+", metavar="FILE_OR_TEXT", help="a .ts / .csv series file, or a text"
    )
    args = parser.parse_args(argv)

    def run():
        model = load_litert(ClassifyLiteRT, args.tflite, args.metadata)
        items = []  # every input read and checked before the first answer
        if model.kind == "series":
            for path in args.inputs:
                data = model.read_series(path)
                items += [(f"{path}:{line}", series) for series, line in zip(data.series, data.lines)]
        else:
            items = [(text, np.array(model.token_ids(text), np.int32)) for text in args.inputs]
        answers = []
        for name, sequence in items:
            try:
                answers.append((name, *model.answer(sequence)))
            except UserError as err:
                raise UserError(f"{name}: {err}") from None
        for name, label, probability in answers:
            print(f"{name}\t{label}\t{probability:.4f}")

    return report_errors(run, also=(OSError,))


if __name__ == "__main__":
    sys.exit(main())
