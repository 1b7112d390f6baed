"""Serving an encoder-decoder: what translation and captioning share.

A task subclasses `EncoderDecoderServing` and says how its inputs become the decoder's
memory (`encode`); this module does the rest the same way for both: request checks,
greedy or beam search (`keras_rnn.decoding`), ids back to text, and the fixed-shape
LiteRT functions (`litert_encoder`, `decoder_step`). The module holds the trained
model's own layers (no copies), so the training callbacks use it too
(`EvaluationCallback`).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_rnn import UserError, decoding
from keras_rnn.data.tokens import join_tokens
from keras_rnn.limits import MAX_BEAM_WIDTH


def check_search_options(beam_width: int, max_length: int, max_length_limit: int) -> None:
    """The served limits, checked where a command line gives them (one error line)."""
    if not 1 <= beam_width <= MAX_BEAM_WIDTH or not 1 <= max_length <= max_length_limit:
        raise UserError(
            f"need 1 <= --beam-width <= {MAX_BEAM_WIDTH} and 1 <= --max-length <= {max_length_limit}"
        )


class EncoderDecoderServing(tf.Module):
    """Inputs -> `encode` -> decoder search -> text. Subclasses set `start_id`, `end_id`,
    `level` and `max_length_limit`, and implement `encode`."""

    start_id: int
    end_id: int
    level: str = "word"
    max_length_limit: int  # the most output tokens one request may ask for

    def __init__(self, model: keras.Model, id_to_token: list[str], name: str):
        super().__init__(name=name)
        self.model = model
        self.encoder, self.decoder = model.get_layer("encoder"), model.get_layer("decoder")
        self.id_to_token = tf.constant(id_to_token)

    def encode(self, inputs):
        """Model inputs -> (memory [B, P, D], memory mask [B, P] bool, summaries: one [B, D] per cell state)."""
        raise NotImplementedError

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
        memory, mask, summaries = self.encode(inputs)
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


class EvaluationCallback(keras.callbacks.Callback):
    """Base of the callbacks that decode held-out data after each epoch: `serving()` is
    the task's serving module over the model being trained, made once (its layers are
    the model's), with `greedy` (a traced function, reused every epoch)."""

    def make_serving(self) -> EncoderDecoderServing:
        raise NotImplementedError

    def serving(self) -> EncoderDecoderServing:
        if getattr(self, "_serving", None) is None:
            self._serving = self.make_serving()
            self.greedy = tf.function(self._serving.greedy)
        return self._serving
