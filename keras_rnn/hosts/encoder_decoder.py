"""What the encoder-decoder host loops share (translation, captioning): loading the
`encoder` and `decoder_step` models, the greedy loop, and joining word tokens into text.
numpy and ai_edge_litert only."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from keras_rnn import UserError, report_errors
from keras_rnn.hosts import load_litert, read_metadata, require_ids, require_signature, require_tokens

# Copied from keras_rnn.data.tokens.DETOKENIZE (this file must not import TensorFlow;
# a test checks that the two stay equal).
DETOKENIZE = ((r" ([.,!?;:%)\]}»…])", r"\1"), (r"([(\[{«¿¡]) ", r"\1"), (r"(\w) ([-’]) (\w)", r"\1\2\3"))


def tokenize(text: str, level: str, lowercase: bool) -> list[str]:
    """The model's word or character tokenizer (`keras_rnn.data.tokens.tokenize`) in plain
    Python, plus NFKC."""
    text = unicodedata.normalize("NFKC", text)
    text = re.sub(r"\s+", " ", text.lower() if lowercase else text).strip()
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

    REQUIRED: dict = {}  # metadata keys the host reads, and their types
    STEP_INPUTS: set = set()
    ENCODER_INPUT = ""  # the encoder's one input
    WORDS = ""  # the metadata's list of the decoder's output tokens (one per logit)
    WORD_IDS: tuple = ()  # the metadata's ids of those tokens

    def __init__(self, name: str, litert_dir, num_threads: int = 1, quantized: bool = False):
        litert_dir = Path(litert_dir)
        self.path = litert_dir / f"{name}.json"
        self.meta = read_metadata(self.path, name, {"state_size": int, **self.REQUIRED})
        suffix = "_drq" if quantized else ""
        self.encoder = Interpreter(
            model_path=str(litert_dir / f"{name}_encoder{suffix}.tflite"), num_threads=num_threads
        ).get_signature_runner("encoder")
        self.step = Interpreter(
            model_path=str(litert_dir / f"{name}_decoder_step{suffix}.tflite"), num_threads=num_threads
        ).get_signature_runner("decoder_step")
        require_signature(self.step, self.STEP_INPUTS, f"{name}_decoder_step{suffix}.tflite", self.meta)
        encoder_inputs = self.encoder.get_input_details()
        if set(encoder_inputs) != {self.ENCODER_INPUT}:
            raise ValueError(
                f"{name}_encoder{suffix}.tflite takes {sorted(encoder_inputs)}, not ['{self.ENCODER_INPUT}']: "
                "a model of another task?"
            )
        self.encoder_input = encoder_inputs[self.ENCODER_INPUT]
        words = int(self.step.get_output_details()["logits"]["shape"][-1])
        require_tokens(self.meta, self.path, self.WORDS, words)
        require_ids(self.meta, self.path, words, *self.WORD_IDS)


def run_host(args, host_cls, answer, max_length_limit: int) -> int:
    """The encoder-decoder host commands: load `host_cls` from args.litert_dir, print one
    `item<TAB>answer` line per item; bad input ends in one error line and exit code 2."""

    def run():
        if args.max_length is not None and not 1 <= args.max_length <= max_length_limit:
            raise UserError(
                f"--max-length must be in [1, {max_length_limit}] (the SavedModel's limit), got {args.max_length}"
            )
        model = load_litert(host_cls, args.litert_dir, quantized=args.quantized)
        for item in args.items:
            print(f"{item}\t{answer(model, item)}")

    return report_errors(run, also=(OSError,))  # e.g. an image file the caption host cannot read
