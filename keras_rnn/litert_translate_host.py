"""Reference host loop for the LiteRT translation models, with numpy and ai_edge_litert only.

What an app does with `translate_encoder.tflite` and `translate_decoder_step.tflite`:
tokenize with the vocabulary in `translate.json`, run the encoder once, then
feed the decoder step its previous token until it says <end>. Greedy decoding
gives the same tokens as the Keras model and the SavedModel (tests check).
Sources longer than `max_source_len` tokens are truncated, as in the SavedModel.

    python -m keras_rnn.litert_translate_host saved_models/litert/translate/1 "saturday 9 march 1985"
"""

from __future__ import annotations

import argparse
import sys
import json
import re
import unicodedata
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from keras_rnn import UserError, load_litert, report_errors


# Copied from keras_rnn.tasks.translate.DETOKENIZE (this file must not import TensorFlow;
# tests/test_translate.py checks that the two stay equal).
DETOKENIZE = ((r" ([.,!?;:%)\]}»…])", r"\1"), (r"([(\[{«¿¡]) ", r"\1"))


def tokenize(text: str, level: str) -> list[str]:
    """The model's tokenizer (`translate.tokenize`) in plain Python, plus NFKC."""
    text = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text).lower()).strip()
    if level == "char":
        return list(text)
    return re.sub(r"([^\w\s']|_)", r" \1 ", text).split()


def greedy_loop(step, state, start_id: int, end_id: int, max_length: int, **constants):
    """Feed a LiteRT decoder step (a signature runner) its previous token until <end>:
    the ids (without <end>) and each step's attention row. Shared by the host loops."""
    token, ids, attention = start_id, [], []
    for _ in range(max_length):
        out = step(token=np.array([token], np.int32), state=state, **constants)
        token, state = int(np.argmax(out["logits"][0, 1:])) + 1, out["state"]  # id 0 (padding) never
        attention.append(out["attention"][0])
        if token == end_id:
            break
        ids.append(token)
    return ids, np.array(attention)


def join_words(words: list[str]) -> str:
    """Word tokens -> text with the model's own detokenization rules (translate.DETOKENIZE)."""
    text = " ".join(words)
    for pattern, rewrite in DETOKENIZE:
        text = re.sub(pattern, rewrite, text)
    return text


class EncoderDecoderLiteRT:
    """`NAME.json` and the `encoder` / `decoder_step` signature runners of an exported
    encoder-decoder (translate, caption), float32 or dynamic-range quantized."""

    def __init__(self, name: str, litert_dir, num_threads: int = 1, quantized: bool = False):
        litert_dir = Path(litert_dir)
        self.meta = json.loads((litert_dir / f"{name}.json").read_text(encoding="utf-8"))
        suffix = "_drq" if quantized else ""
        self.encoder = Interpreter(model_path=str(litert_dir / f"{name}_encoder{suffix}.tflite"),
                                   num_threads=num_threads).get_signature_runner("encoder")
        self.step = Interpreter(model_path=str(litert_dir / f"{name}_decoder_step{suffix}.tflite"),
                                num_threads=num_threads).get_signature_runner("decoder_step")


class TranslatorLiteRT(EncoderDecoderLiteRT):
    def __init__(self, litert_dir, num_threads: int = 1, quantized: bool = False):
        super().__init__("translate", litert_dir, num_threads, quantized)
        self.source_ids = {t: i for i, t in enumerate(self.meta["source_vocab"]) if i > 0}

    def encode(self, text: str) -> np.ndarray:
        tokens = tokenize(text, self.meta["level"])[:self.meta["max_source_len"]]
        ids = [self.source_ids.get(t, self.meta["unknown_id"]) for t in tokens] + [self.meta["source_end_id"]]
        out = np.zeros([1, self.meta["source_length"]], np.int32)
        out[0, :len(ids)] = ids
        return out

    def greedy_ids(self, text: str, max_length: int = 48):
        """Output ids (without <end>) and the attention rows [steps, source_length]."""
        encoded = self.encoder(source=self.encode(text))
        return greedy_loop(self.step, encoded["state"], self.meta["target_start_id"], self.meta["target_end_id"],
                           max_length, memory=encoded["memory"], mask=encoded["mask"])

    def translate(self, text: str, max_length: int = 48) -> str:
        if not tokenize(text, self.meta["level"]):
            return ""
        ids, _ = self.greedy_ids(text, max_length)
        if self.meta["level"] == "char":
            return "".join(self.meta["target_vocab"][i] for i in ids)
        return join_words([self.meta["target_vocab"][i] for i in ids])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("litert_dir", help="directory holding translate.json and the .tflite files")
    parser.add_argument("items", nargs="+", metavar="sentence")
    parser.add_argument("--max-length", type=int, default=48)
    parser.add_argument("--quantized", action="store_true", help="use the dynamic-range quantized models")
    args = parser.parse_args(argv)
    return run_host(args, TranslatorLiteRT, lambda model, sentence: model.translate(sentence, args.max_length))


def run_host(args, host_cls, answer) -> int:
    """The encoder-decoder host commands: load `host_cls` from args.litert_dir, print one
    `item<TAB>answer` line per item; bad input ends in one error line and exit code 2."""
    def run():
        if args.max_length is not None and args.max_length < 1:
            raise UserError(f"--max-length must be at least 1, got {args.max_length}")
        model = load_litert(host_cls, args.litert_dir, quantized=args.quantized)
        for item in args.items:
            print(f"{item}\t{answer(model, item)}")

    return report_errors(run, also=(OSError,))  # e.g. an image file the caption host cannot read


if __name__ == "__main__":
    sys.exit(main())
