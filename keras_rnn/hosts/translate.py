"""Reference host loop for the LiteRT translation models, with numpy and ai_edge_litert only.

What an app does with `translate_encoder.tflite` and `translate_decoder_step.tflite`:
tokenize with the vocabulary in `translate.json`, run the encoder once, then
feed the decoder step its previous token until it says <end>. Greedy decoding
gives the same tokens as the Keras model and the SavedModel (tests check).
Sources longer than `max_source_len` tokens are truncated, as in the SavedModel.

    python -m keras_rnn.hosts.translate saved_models/litert/translate/1 "saturday 9 march 1985"
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from keras_rnn import command_line_text
from keras_rnn.data.subword_py import SubwordTokenizerPy, SubwordVocabulary
from keras_rnn.hosts import require_ids, require_shape
from keras_rnn.hosts.encoder_decoder import EncoderDecoderLiteRT, greedy_loop, join_words, run_host, tokenize
from keras_rnn.limits import MAX_OUTPUT_TOKENS


class TranslateLiteRT(EncoderDecoderLiteRT):
    REQUIRED = {
        "level": str,
        "source_vocab": list,
        "target_vocab": list,
        "source_length": int,
        "max_source_len": int,
    }
    STEP_INPUTS = {"token", "state", "memory", "mask"}
    ENCODER_INPUT, WORDS, WORD_IDS = "source", "target_vocab", ("target_start_id", "target_end_id")

    def __init__(self, litert_dir, num_threads: int = 1, quantized: bool = False):
        super().__init__("translate", litert_dir, num_threads, quantized)
        length = self.meta["source_length"]
        require_shape("the encoder's source", self.encoder_input, [1, length])
        if not 0 < self.meta["max_source_len"] < length:  # the tokens, then <end>
            raise ValueError(
                f"{self.path}: 'max_source_len' must be in [1, {length - 1}] (source_length - 1)"
            )
        require_ids(self.meta, self.path, len(self.meta["source_vocab"]), "unknown_id", "source_end_id")
        probe = np.zeros([1, length], np.int32)
        probe[0, 0] = len(self.meta["source_vocab"]) - 1  # the largest id the metadata can give
        try:
            self.encoder(source=probe)
        except RuntimeError:
            raise ValueError(f"{self.path}: 'source_vocab' has more tokens than the encoder knows") from None
        self.level, self.lowercase = self.meta["level"], self.meta.get("lowercase", True)
        if self.level == "subword":  # the SavedModel's subword tokenizer, in plain Python
            self.source_tokenizer = SubwordTokenizerPy(
                SubwordVocabulary.from_json(self.meta["source_subword"])
            )
            self.target_tokenizer = SubwordTokenizerPy(
                SubwordVocabulary.from_json(self.meta["target_subword"])
            )
        self.source_ids = {t: i for i, t in enumerate(self.meta["source_vocab"]) if i > 0}

    def source_token_ids(self, text: str) -> list[int]:
        """All source ids (untruncated, without <end>), as the SavedModel's Vectorizer gives them."""
        if self.level == "subword":
            return self.source_tokenizer.tokenize(text)
        tokens = tokenize(text, self.level, self.lowercase)
        return [self.source_ids.get(t, self.meta["unknown_id"]) for t in tokens]

    def encode(self, text: str) -> np.ndarray:
        ids = self.source_token_ids(text)[: self.meta["max_source_len"]] + [self.meta["source_end_id"]]
        out = np.zeros([1, self.meta["source_length"]], np.int32)
        out[0, : len(ids)] = ids
        return out

    def default_max_length(self) -> int:
        """The SavedModel's decoding length: the run's --max-target-len + 1 (exports made before
        translate.json held max_target_len: 48, the length they decoded to)."""
        return self.meta["max_target_len"] + 1 if isinstance(self.meta.get("max_target_len"), int) else 48

    def greedy_ids(self, text: str, max_length: int | None = None):
        """Output ids (without <end>) and the attention rows [steps, source_length]."""
        max_length = max_length or self.default_max_length()
        encoded = self.encoder(source=self.encode(text))
        return greedy_loop(
            self.step,
            encoded["state"],
            self.meta["target_start_id"],
            self.meta["target_end_id"],
            max_length,
            memory=encoded["memory"],
            mask=encoded["mask"],
        )

    def translate(self, text: str, max_length: int | None = None) -> str:
        if not self.source_token_ids(text):
            return ""
        ids, _ = self.greedy_ids(text, max_length)
        if self.level == "subword":
            return self.target_tokenizer.detokenize(ids)
        if self.level == "char":
            return "".join(self.meta["target_vocab"][i] for i in ids)
        return join_words([self.meta["target_vocab"][i] for i in ids])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("litert_dir", help="directory holding translate.json and the .tflite files")
    parser.add_argument("items", nargs="+", metavar="sentence")
    parser.add_argument(
        "--max-length", type=int, default=None, help="default: the model's --max-target-len + 1"
    )
    parser.add_argument("--quantized", action="store_true", help="use the dynamic-range quantized models")
    args = parser.parse_args(argv)
    return run_host(
        args,
        TranslateLiteRT,
        lambda model, sentence: model.translate(
            command_line_text(sentence, f"{sentence!r}"), args.max_length
        ),
        MAX_OUTPUT_TOKENS,
    )


if __name__ == "__main__":
    sys.exit(main())
