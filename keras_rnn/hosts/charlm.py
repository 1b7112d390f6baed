"""Reference host loop for a LiteRT step model, with numpy and ai_edge_litert only.

This is what a mobile app does with `charlm_step.tflite`: keep the state, feed
one character id, read the logits, pick the next character, repeat. It imports
no TensorFlow (the tests check), so it runs where only the LiteRT runtime is.

    python -m keras_rnn.hosts.charlm saved_models/litert/charlm/1/charlm_step.tflite \
        saved_models/litert/charlm/1/charlm.json --prompt "def " --num-chars 200

Greedy decoding (top_k=1) gives the same text as the SavedModel and Keras;
temperature sampling draws from the same distribution but with numpy's random
numbers, so the text differs from the SavedModel's for the same seed.
"""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from keras_rnn import UserError, command_line_text, report_errors
from keras_rnn.hosts import load_litert, read_metadata, require_ids, require_signature, require_tokens
from keras_rnn.limits import MAX_GENERATE_CHARS, MAX_PROMPT_CHARS


def check_options(num_chars: int, temperature: float, top_k: int, prompt: str = "") -> None:
    """The served model's limits (keras_rnn.limits), so no request runs for minutes."""
    if not 0 < num_chars <= MAX_GENERATE_CHARS or not 0 < temperature < math.inf or top_k < 0:
        raise UserError(
            f"need 0 < num_chars <= {MAX_GENERATE_CHARS:,}, a finite temperature > 0 and top_k >= 0 "
            "(top_k=1 is greedy)"
        )
    if len(prompt) > MAX_PROMPT_CHARS:
        raise UserError(f"the prompt has {len(prompt):,} characters: at most {MAX_PROMPT_CHARS:,}")


class CharLMLiteRT:
    def __init__(self, tflite_path, metadata_path, num_threads: int = 1):
        self.meta = read_metadata(
            metadata_path, "charlm", {"chars": list, "state_size": int, "unknown_id": int}
        )
        self.interpreter = Interpreter(model_path=str(tflite_path), num_threads=num_threads)
        self.interpreter.allocate_tensors()
        # Tensor indices by signature name; set/invoke/get directly (the signature runner
        # re-allocates tensors on every call, a large share of a small step's time).
        runner = self.interpreter.get_signature_runner("step")
        self.inputs = require_signature(runner, {"token", "state"}, f"{tflite_path}'s step", self.meta)
        outputs = runner.get_output_details()
        self.outputs = {name: d["index"] for name, d in outputs.items()}
        ids = int(outputs["logits"]["shape"][-1])  # the unknown character (id 0), then `chars`
        require_tokens(self.meta, metadata_path, "chars", ids - 1)
        require_ids(self.meta, metadata_path, ids, "unknown_id")
        self.index = {c: i + 1 for i, c in enumerate(self.meta["chars"])}
        self.unknown = self.meta["unknown_id"]

    def zero_state(self) -> np.ndarray:
        return np.zeros([1, self.meta["state_size"]], np.float32)

    def step(self, token: int, state: np.ndarray):
        self.interpreter.set_tensor(self.inputs["token"], np.array([token], np.int32))
        self.interpreter.set_tensor(self.inputs["state"], state)
        self.interpreter.invoke()
        return (
            self.interpreter.get_tensor(self.outputs["logits"])[0],
            self.interpreter.get_tensor(self.outputs["state"]),
        )

    def encode(self, text: str) -> list[int]:
        return [self.index.get(c, self.unknown) for c in (text or "\n")]

    def pick(self, logits: np.ndarray, temperature: float, top_k: int, rng: np.random.Generator) -> int:
        """Temperature / top-k sampling (top_k=1: greedy); never the unknown character."""
        logits = logits.astype(np.float64) / temperature
        logits[self.unknown] = -np.inf
        if top_k == 1:
            return int(np.argmax(logits))
        if top_k:
            logits[logits < np.partition(logits, -top_k)[-top_k]] = -np.inf
        cumulative = np.cumsum(np.exp(logits - logits.max()))
        return int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))

    def generate(
        self, prompt: str, num_chars: int, temperature: float = 1.0, top_k: int = 0, seed: int = 0
    ) -> str:
        check_options(num_chars, temperature, top_k, prompt)
        top_k = min(top_k, len(self.meta["chars"]) + 1)
        rng = np.random.default_rng(seed % 2**64)  # any integer seed, negative ones too (as the SavedModel)
        state = self.zero_state()
        for token in self.encode(prompt):
            logits, state = self.step(token, state)
        out = []
        for _ in range(num_chars):
            token = self.pick(logits, temperature, top_k, rng)
            out.append(token)
            logits, state = self.step(token, state)
        return "".join(self.meta["chars"][t - 1] for t in out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tflite")
    parser.add_argument("metadata")
    parser.add_argument("--prompt", default="\n")
    parser.add_argument("--num-chars", type=int, default=200)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--top-k", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    def run():
        check_options(
            args.num_chars, args.temperature, args.top_k, command_line_text(args.prompt, "--prompt")
        )
        model = load_litert(CharLMLiteRT, args.tflite, args.metadata)
        print(
            args.prompt + model.generate(args.prompt, args.num_chars, args.temperature, args.top_k, args.seed)
        )

    return report_errors(run)


if __name__ == "__main__":
    sys.exit(main())
