"""Soft attention over a memory of positions, independent of what the positions are.

`BahdanauAttention` scores every memory position j against a query s (the
decoder state before the step): additive `vᵀ tanh(W₁ s + W₂ h_j)` (Bahdanau et
al. 2015) or multiplicative `sᵀ W h_j` (Luong et al. 2015, "general"). Softmax
over positions, with masked positions (padding) given exactly zero weight; the
context is `Σ_j α_j h_j`. The memory is any `[batch, positions, features]`
tensor: encoder outputs of a sentence, or a CNN feature grid flattened to
positions for an image captioner.

`keras.layers.AdditiveAttention` is not this: it has no W₁, W₂ projections.
"""

from __future__ import annotations

import keras
from keras import ops

SCORES = ("bahdanau", "luong")


@keras.saving.register_keras_serializable(package="keras_rnn")
class BahdanauAttention(keras.layers.Layer):
    """`(query [B, Dq], memory [B, P, Dm], memory_mask [B, P]) -> (context [B, Dm], weights [B, P])`.

    `keys = project_memory(memory)` can be computed once per memory and passed to
    every call (the W₂ h_j term does not change while decoding one sentence).
    """

    def __init__(self, units: int, score: str = "bahdanau", **kwargs):
        super().__init__(**kwargs)
        if score not in SCORES:
            raise ValueError(f"score must be one of {SCORES}, got {score!r}")
        self.units, self.score = units, score

    def build(self, query_shape, memory_shape=None, *args, **kwargs):
        query_dim, memory_dim = query_shape[-1], memory_shape[-1]
        if self.score == "bahdanau":
            self.query_kernel = self.add_weight(name="query_kernel", shape=(query_dim, self.units))  # W₁
            self.memory_kernel = self.add_weight(name="memory_kernel", shape=(memory_dim, self.units))  # W₂
            self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")
            self.v = self.add_weight(name="v", shape=(self.units,))
        else:  # Luong "general": keys live in the query space
            self.memory_kernel = self.add_weight(name="memory_kernel", shape=(memory_dim, query_dim))

    def project_memory(self, memory):
        """W₂ h_j for every position (once per memory, not once per decoding step)."""
        keys = ops.matmul(memory, ops.cast(self.memory_kernel, memory.dtype))
        return keys + ops.cast(self.bias, keys.dtype) if self.score == "bahdanau" else keys

    def call(self, query, memory, memory_mask=None, keys=None):
        """query [B, Dq] (one decoder step) or [B, T, Dq] (all steps at once, as the `cross`
        decoder trains) -> context [B, (T,) Dm], weights [B, (T,) P]."""
        if keys is None:
            keys = self.project_memory(memory)
        all_steps = len(query.shape) == 3
        queries = query if all_steps else query[:, None, :]  # [B, T, Dq]
        if self.score == "bahdanau":
            projected = ops.matmul(queries, ops.cast(self.query_kernel, query.dtype))[:, :, None, :]
            scores = ops.sum(ops.tanh(projected + keys[:, None]) * ops.cast(self.v, keys.dtype), axis=-1)
        else:
            scores = ops.matmul(queries, ops.transpose(keys, (0, 2, 1)))
        scores = ops.cast(scores, "float32")  # softmax in float32 even under mixed precision
        if memory_mask is not None:
            mask = ops.cast(memory_mask, "bool")[:, None, :]
            scores = ops.where(mask, scores, -1e9)
            weights = ops.softmax(scores, axis=-1) * ops.cast(mask, "float32")  # exactly 0 on padding
        else:
            weights = ops.softmax(scores, axis=-1)
        context = ops.matmul(ops.cast(weights, memory.dtype), memory)  # [B, T, Dm]
        return (context, weights) if all_steps else (context[:, 0], weights[:, 0])

    def compute_output_spec(self, query, memory, memory_mask=None, keys=None):
        batch, positions, features = memory.shape
        steps = tuple(query.shape[1:-1])
        return (
            keras.KerasTensor((batch, *steps, features), memory.dtype),
            keras.KerasTensor((batch, *steps, positions), "float32"),
        )

    def get_config(self):
        return {**super().get_config(), "units": self.units, "score": self.score}
