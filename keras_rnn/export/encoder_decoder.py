"""Serving an encoder-decoder: what translation and captioning share.

A task subclasses `EncoderDecoderServing` and says how its inputs become the decoder's
memory (`encode`); this module does the rest the same way for both: request checks,
greedy or beam search (`keras_rnn.decoding`), ids back to text, and the fixed-shape
LiteRT functions (`litert_encoder`, `decoder_step`). The module holds the trained
model's own layers (no copies), so evaluation uses it too: `greedy_texts` decodes held-out
inputs (the test scores), `DecodingReport` after each epoch (`keras_rnn.evaluation`'s
callback); and `predict.py`'s options and answers (`add_predict_arguments`, `predict`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import keras
import tensorflow as tf

from keras_rnn import UserError, decoding, output_directory
from keras_rnn.data.tokens import join_tokens
from keras_rnn.evaluation import EvaluationCallback, print_answers
from keras_rnn.limits import MAX_BEAM_WIDTH


def check_search_options(beam_width: int, max_length: int, max_length_limit: int) -> None:
    """The served limits, checked where a command line gives them (one error line)."""
    if not 1 <= beam_width <= MAX_BEAM_WIDTH or not 1 <= max_length <= max_length_limit:
        raise UserError(
            f"need 1 <= --beam-width <= {MAX_BEAM_WIDTH} and 1 <= --max-length <= {max_length_limit}"
        )


class EncoderDecoderServing(tf.Module):
    """Inputs -> `encode` -> decoder search -> text. Subclasses set `start_id`, `end_id`,
    `level`, `max_length_limit`, `text_output` and `max_steps` (the run's decoding length), and
    implement `encode` and `decode(inputs, beam_width, max_length) -> outputs` (the text as
    `text_output`)."""

    start_id: int
    end_id: int
    level: str = "word"
    max_length_limit: int  # the most output tokens one request may ask for
    text_output: str  # the text's name in the outputs of `greedy`, e.g. "translation"
    max_steps: int

    def __init__(self, model: keras.Model, id_to_token: list[str], name: str):
        super().__init__(name=name)
        self.model = model
        self.encoder, self.decoder = model.get_layer("encoder"), model.get_layer("decoder")
        self.id_to_token = tf.constant(id_to_token)

    def encode(self, inputs):
        """Model inputs -> (memory [B, P, D], memory mask [B, P] bool, summaries: one [B, D] per cell state)."""
        raise NotImplementedError

    def decode(self, inputs, beam_width, max_length) -> dict:
        """Inputs -> the search's outputs, the text as `text_output` (what the served signature returns)."""
        raise NotImplementedError

    def greedy(self, inputs, max_length) -> dict:
        """`decode` with beam width 1: what the evaluation, the attention maps and the LiteRT hosts use."""
        return self.decode(inputs, 1, max_length)

    def search(self, inputs, beam_width, max_length, length_penalty=0.0) -> dict:
        """Greedy (beam_width 1) or beam search: tokens, scores, lengths, attention."""
        memory, mask, summaries = self.encode(inputs)
        constants, state = self.decoder.start(memory, mask, summaries)
        start = tf.fill([tf.shape(memory)[0]], self.start_id)
        if isinstance(beam_width, int) and beam_width == 1:
            return decoding.greedy_search(self.decoder.step, state, constants, start, self.end_id, max_length)
        return decoding.beam_search(
            self.decoder.step, state, constants, start, self.end_id, max_length, beam_width, length_penalty
        )

    def request_checks(self, batch, beam_width, max_length, items: str) -> list:
        """Asserts on a served request (run them through `after_checks`): a batch of at least one
        of its `items`, and the search options within their limits."""
        limit = self.max_length_limit
        return [
            tf.debugging.assert_positive(
                tf.size(batch), message=f"the request must hold at least one {items}"
            ),
            tf.debugging.assert_greater_equal(beam_width, 1, message="beam_width must be >= 1"),
            tf.debugging.assert_less_equal(
                beam_width, MAX_BEAM_WIDTH, message=f"beam_width must be <= {MAX_BEAM_WIDTH}"
            ),
            tf.debugging.assert_positive(max_length, message="max_length must be > 0"),
            tf.debugging.assert_less_equal(max_length, limit, message=f"max_length must be <= {limit}"),
        ]

    def to_text(self, found: dict) -> dict:
        """Search results -> text [B] (detokenized), score, attention, length, and the tokens [B, T]."""
        tokens = tf.RaggedTensor.from_tensor(
            tf.gather(self.id_to_token, found["tokens"]), lengths=found["lengths"]
        )
        return {
            "text": join_tokens(tokens, self.level),
            "score": found["scores"],
            "attention": found["attention"],
            "length": found["lengths"],
            "tokens": tokens.to_tensor(""),
        }

    # LiteRT: fixed shapes, ids only; the host tokenizes and detokenizes (the metadata has the vocabulary).
    def litert_encoder(self, inputs) -> dict:
        """Inputs -> memory, mask (float) and the decoder's packed state."""
        return self.litert_state(*self.encode(inputs))

    def litert_state(self, memory, mask, summaries) -> dict:
        """The LiteRT encoder's outputs: memory, mask (float) and the decoder's packed start state."""
        _, state = self.decoder.start(memory, mask, summaries)
        return {
            "memory": memory,
            "mask": tf.cast(mask, tf.float32),
            "state": self.decoder.pack(state, summaries),
        }

    def decoder_step(self, token, state, memory, mask):
        """One output token with fixed shapes: `AttentionDecoder.packed_step`."""
        return self.decoder.packed_step(token, state, memory, mask)

    def decoder_step_signature(self, memory_length: int) -> list:
        return [
            tf.TensorSpec([1], tf.int32, name="token"),
            tf.TensorSpec([1, self.decoder.packed_state_size()], tf.float32, name="state"),
            tf.TensorSpec([1, memory_length, self.decoder.memory_dim], tf.float32, name="memory"),
            tf.TensorSpec([1, memory_length], tf.float32, name="mask"),
        ]


# ---------------------------------------------------------------- evaluation
def greedy_texts(module: EncoderDecoderServing, inputs, greedy=None, batch_size: int = 256):
    """Greedy search over `inputs` (a list or an array), `batch_size` at a time, as long as the
    run's targets (`max_steps`): (the texts, as the exported signature gives them with beam_width 1,
    and each batch's outputs)."""
    greedy = greedy or tf.function(module.greedy)
    max_length = tf.constant(module.max_steps)
    outs = [
        greedy(tf.constant(inputs[i : i + batch_size]), max_length) for i in range(0, len(inputs), batch_size)
    ]
    return [t.decode("utf-8") for out in outs for t in out[module.text_output].numpy()], outs


class DecodingReport(EvaluationCallback):
    """After each epoch: greedy-decode the held-out `inputs` with the task's serving module over the
    model being trained and log `score_texts(texts)` (e.g. BLEU against the references) as val_
    numbers; at the end of training: `draw(module, greedy)`, if given (attention maps).

    The module is made once, on first use (`make_serving(model)`: its layers are the model's, so it
    decodes with the current weights), and its greedy search traced once (`greedy`)."""

    def __init__(
        self,
        make_serving: Callable[[keras.Model], EncoderDecoderServing],
        inputs,
        score_texts: Callable[[list[str]], dict],
        label: str,
        digits: int = 2,
        draw: Callable | None = None,
    ):
        super().__init__(self.score_model, label, digits=digits, at_end=self.draw_maps)
        self.make_serving, self.inputs, self.score_texts, self.draw = make_serving, inputs, score_texts, draw
        self._serving = self.greedy = None

    def serving(self) -> EncoderDecoderServing:
        if self._serving is None:
            self._serving = self.make_serving(self.model)
            self.greedy = tf.function(self._serving.greedy)
        return self._serving

    def score_model(self, model) -> dict:
        if not len(self.inputs):
            return {}
        module = self.serving()
        texts, _ = greedy_texts(module, self.inputs, self.greedy)
        return self.score_texts(texts)

    def draw_maps(self, model) -> None:
        if self.draw:
            self.draw(self.serving(), self.greedy)


def attention_maps(
    module: EncoderDecoderServing, inputs, out_dir: Path, draw: Callable, greedy=None, names=None
) -> list[Path]:
    """Greedy-decode `inputs` (one batch) and draw each one's attention: `draw(outputs, i, path)`
    for the files `out_dir/attention_<name>.png` (names default to 0, 1, ...); returns their paths."""
    greedy = greedy or tf.function(module.greedy)
    out = greedy(tf.constant(inputs), tf.constant(module.max_steps))
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"attention_{name}.png" for name in (names or range(len(inputs)))]
    for i, path in enumerate(paths):
        draw(out, i, path)
    return paths


# ---------------------------------------------------------------- predict.py
def add_search_arguments(parser: argparse.ArgumentParser, length_option: str) -> None:
    """`predict.py`'s --beam-width and --max-length, the same for every encoder-decoder task
    (`args.max_length` None: the task's decoding length for the run)."""
    parser.add_argument(
        "--beam-width",
        type=int,
        default=1,
        help="beams searched (default: 1, greedy: the search the test scores, the attention maps and "
        "the LiteRT hosts use, so the default output is what was scored; wider, e.g. 4, may do better)",
    )
    parser.add_argument(
        "--max-length",
        type=int,
        default=None,
        help="decoding steps at most, <end> included (the served max_length; default: the run's "
        f"{length_option} + 1: its longest training target, then <end>)",
    )


def search_options(args: argparse.Namespace, module) -> tuple[int, int]:
    """`predict.py`'s (beam width, max length) for an encoder-decoder serving `module` (default
    length: its `max_steps`), within the served limits or refused with one error line."""
    max_length = module.max_steps if args.max_length is None else args.max_length
    check_search_options(args.beam_width, max_length, module.max_length_limit)
    return args.beam_width, max_length


def add_predict_arguments(
    parser: argparse.ArgumentParser, inputs: str, inputs_help: str, length_option: str, maps_help: str
) -> None:
    """`predict.py`'s options of an encoder-decoder task: the inputs, the search, --maps."""
    parser.add_argument(inputs, nargs="+", help=inputs_help)
    add_search_arguments(parser, length_option)
    parser.add_argument("--maps", help=maps_help)


def predict(
    module: EncoderDecoderServing,
    args: argparse.Namespace,
    names: list,
    read: Callable[[], tf.Tensor],
    answer: Callable[[tf.Tensor, tf.Tensor, tf.Tensor], tf.Tensor],
    draw_maps: Callable[[tf.Tensor, Path], None],
) -> None:
    """`predict.py` for an encoder-decoder: the search options checked and the --maps directory made
    before the inputs are read (`read() -> inputs [N]`), then `answer(inputs, beam_width, max_length)
    -> texts [N]` printed one `name<TAB>text` line per input, then, with --maps,
    `draw_maps(inputs, directory)`."""
    beam_width, max_length = search_options(args, module)
    maps = output_directory(args.maps, "--maps") if args.maps else None
    inputs = read()
    print_answers(names, answer(inputs, tf.constant(beam_width), tf.constant(max_length)).numpy())
    if maps:
        draw_maps(inputs, maps)
