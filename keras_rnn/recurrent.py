"""Recurrent cells as plain TensorFlow ops, built from a trained Keras model.

Why a second form of the same cells: a served `generate` loop and a LiteRT step
model want one small step made of a few matmuls and element-wise ops, with no
`while_loop` inside the step (LiteRT builtins need static shapes) and with the
first layer's input projection precomputed, one row per token
(`embedding @ kernel + bias`). The tests hold it to the Keras layers' outputs
within 1e-5.

The state of the whole stack travels as ONE float tensor `[batch, state_size]`,
the per-layer states concatenated (`h` for rnn/gru; `h, c` for lstm), so a host
loop needs to know nothing about the cell to carry it.

Each recurrent kernel is stored as two column blocks, multiplied as two
independent matmuls: at batch 1 TensorFlow's (oneDNN) matmul runs on one core,
and the executor runs the two blocks on two (`benchmarks/step_probe.py` measures it).
A GRU's recurrent bias for the z and r gates is folded into the
input projection (it is only ever added to it).

`CellStack` is the same contract for any other Keras cell (the lectures' cells): it steps
float32 copies of the trained cells themselves.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from keras_rnn.layers.cells import LECTURE_CELLS, lecture_cell_states

CELLS = ("rnn", "lstm", "gru")


def states_per_layer(cell: str) -> int:
    if cell in LECTURE_CELLS:
        return lecture_cell_states(cell)
    return 2 if cell == "lstm" else 1


@dataclasses.dataclass
class StackLayers:
    """The Keras layers a `RecurrentStack` copies its weights from: an Embedding, the
    recurrent layers (SimpleRNN / LSTM / GRU, first to last) and the output Dense."""

    embedding: Any
    recurrent: list
    output: Any


class RecurrentStack(tf.Module):
    """Embedding -> stacked rnn/lstm/gru -> Dense, one time step at a time.

    `layers_of(model)` names the Keras layers to read (`StackLayers`); `assign_from`
    refreshes the weights from the same model, so traced functions are reused while training.
    """

    def __init__(self, model, cell: str, layers_of: Callable[[Any], StackLayers], name="recurrent_stack"):
        super().__init__(name=name)
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}, got {cell!r}")
        self.layers_of = layers_of
        first = layers_of(model).recurrent[0]
        self.cell, self.num_layers = cell, len(layers_of(model).recurrent)
        self.units = first.units
        self.reset_after = getattr(first, "reset_after", True)
        self.state_size = self.num_layers * self.units * states_per_layer(cell)
        values = self._weights(model)
        self.input_table = tf.Variable(values["input_table"], trainable=False, name="input_table")
        self.kernels = [
            tf.Variable(k, trainable=False, name=f"kernel_{i + 1}") for i, k in enumerate(values["kernels"])
        ]
        self.input_biases = [
            tf.Variable(b, trainable=False, name=f"input_bias_{i + 1}")
            for i, b in enumerate(values["input_biases"])
        ]
        self.recurrent_kernels = [
            [
                tf.Variable(block, trainable=False, name=f"recurrent_kernel_{i}_{j}")
                for j, block in enumerate(blocks)
            ]
            for i, blocks in enumerate(values["recurrent_kernels"])
        ]
        self.recurrent_biases = [
            tf.Variable(b, trainable=False, name=f"recurrent_bias_{i}")
            for i, b in enumerate(values["recurrent_biases"])
        ]
        self.output_kernel = tf.Variable(values["output_kernel"], trainable=False, name="output_kernel")
        self.output_bias = tf.Variable(values["output_bias"], trainable=False, name="output_bias")

    def _weights(self, model) -> dict:
        layers = self.layers_of(model)
        embedding = layers.embedding.embeddings.numpy()
        out = {"kernels": [], "input_biases": [], "recurrent_kernels": [], "recurrent_biases": []}
        for i, layer in enumerate(layers.recurrent):
            cell = layer.cell
            kernel, recurrent = cell.kernel.numpy(), cell.recurrent_kernel.numpy()
            bias = cell.bias.numpy()
            if self.cell == "gru" and self.reset_after:  # z, r recurrent biases join the input bias
                input_bias = bias[0] + np.concatenate(
                    [bias[1][: 2 * self.units], np.zeros(self.units, bias.dtype)]
                )
                recurrent_bias = bias[1][2 * self.units :]
            else:
                input_bias, recurrent_bias = bias, bias[:0]  # empty: no separate recurrent bias
            if i == 0:
                out["input_table"] = embedding @ kernel + input_bias
            else:
                out["kernels"].append(kernel)
                out["input_biases"].append(input_bias)
            out["recurrent_kernels"].append(self._blocks(recurrent))
            out["recurrent_biases"].append(recurrent_bias)
        dense = layers.output
        out["output_kernel"], out["output_bias"] = dense.kernel.numpy(), dense.bias.numpy()
        return out

    def _blocks(self, kernel):
        """Two column blocks: halves, or for the slides' GRU its (z, r) and candidate parts,
        which it multiplies separately."""
        if self.cell == "gru" and not self.reset_after:
            return [kernel[:, : 2 * self.units], kernel[:, 2 * self.units :]]
        return np.array_split(kernel, 2, axis=1)

    def assign_from(self, model) -> None:
        values = self._weights(model)
        self.input_table.assign(values["input_table"])
        for name in ("kernels", "input_biases", "recurrent_biases"):
            for var, value in zip(getattr(self, name), values[name]):
                var.assign(value)
        for blocks, values_ in zip(self.recurrent_kernels, values["recurrent_kernels"]):
            for var, value in zip(blocks, values_):
                var.assign(value)
        self.output_kernel.assign(values["output_kernel"])
        self.output_bias.assign(values["output_bias"])

    def zero_state(self, batch_size):
        return tf.zeros([batch_size, self.state_size], tf.float32)

    def joined_kernels(self):
        """The recurrent kernels as one block each, for `step(kernels=...)` under XLA: XLA's own
        batch-1 matmul uses both cores, and one is faster than two. Concatenates (copies) the
        weights: call it once, outside a loop. The slides' GRU (reset_after=False) keeps its two
        kernels: its candidate's product needs r * h first, so they cannot be one matmul."""
        if self.cell == "gru" and not self.reset_after:
            return self.recurrent_kernels
        return [[tf.concat([b.value() for b in blocks], axis=1)] for blocks in self.recurrent_kernels]

    def step(self, token, state, kernels=None):
        """token [B] int32, state [B, S] -> logits [B, V], new state [B, S].
        `kernels`: the recurrent kernels' blocks (default: the stored two-block ones)."""
        kernels = kernels or self.recurrent_kernels
        n = states_per_layer(self.cell)
        parts = tf.split(state, self.num_layers * n, axis=-1) if self.num_layers * n > 1 else [state]
        x_proj = tf.gather(self.input_table, token)
        new_parts = []
        for i in range(self.num_layers):
            layer_state = parts[i * n : (i + 1) * n]
            new_state = self._cell(x_proj, layer_state, kernels[i], self.recurrent_biases[i])
            h = new_state[0]
            new_parts.extend(new_state)
            if i + 1 < self.num_layers:  # the next layer's input projection
                x_proj = tf.matmul(h, self.kernels[i]) + self.input_biases[i]
        logits = tf.matmul(h, self.output_kernel) + self.output_bias
        return logits, tf.concat(new_parts, axis=-1) if len(new_parts) > 1 else new_parts[0]

    def _cell(self, x_proj, state, kernel_blocks, recurrent_bias):
        """One step of Keras' SimpleRNN / LSTM (gates i,f,c,o) / GRU (gates z,r,h)."""

        def recurrent(h):  # h @ kernel, one independent matmul per column block
            return tf.concat([tf.matmul(h, block) for block in kernel_blocks], axis=-1)

        if self.cell == "rnn":
            return [tf.tanh(x_proj + recurrent(state[0]))]
        if self.cell == "lstm":
            h, c = state
            i, f, g, o = tf.split(x_proj + recurrent(h), 4, axis=-1)
            c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
            return [tf.sigmoid(o) * tf.tanh(c), c]
        h = state[0]
        if self.reset_after:  # Keras default, cuDNN-compatible; both gates in one sigmoid (fewer ops)
            x_zr, x_h = tf.split(x_proj, [2 * self.units, self.units], axis=-1)
            r_zr, r_h = tf.split(recurrent(h), [2 * self.units, self.units], axis=-1)
            z, r = tf.split(tf.sigmoid(x_zr + r_zr), 2, axis=-1)
            candidate = tf.tanh(x_h + r * (r_h + recurrent_bias))
            return [candidate + z * (h - candidate)]
        # the lecture slides' GRU (reset_after=False): reset gate applied before the matmul
        x_zr, x_h = tf.split(x_proj, [2 * self.units, self.units], axis=-1)
        z, r = tf.split(tf.sigmoid(x_zr + tf.matmul(h, kernel_blocks[0])), 2, axis=-1)
        candidate = tf.tanh(x_h + tf.matmul(r * h, kernel_blocks[1]))
        return [candidate + z * (h - candidate)]


class CellStack(tf.Module):
    """Embedding -> stacked Keras RNN cells -> Dense, one time step at a time, with
    `RecurrentStack`'s interface (packed state, `step`, `assign_from`), for cells it has no
    hand-written step for. Steps float32 copies of the trained cells (built from their
    configs), so a mixed-precision model serves in float32 too."""

    def __init__(self, model, layers_of: Callable[[Any], StackLayers], name="cell_stack"):
        super().__init__(name=name)
        self.layers_of, layers = layers_of, layers_of(model)
        self.cells, width = [], layers.embedding.output_dim
        for layer in layers.recurrent:
            cell = type(layer.cell).from_config({**layer.cell.get_config(), "dtype": "float32"})
            cell.build((None, width))
            self.cells.append(cell)
            width = cell.output_size
        self.num_layers, self.units = len(self.cells), self.cells[0].output_size
        self.state_sizes = [size for cell in self.cells for size in tf.nest.flatten(cell.state_size)]
        self.state_size = sum(self.state_sizes)
        self.embedding = tf.Variable(tf.zeros_like(layers.embedding.embeddings), trainable=False)
        self.output_kernel = tf.Variable(tf.zeros_like(layers.output.kernel), trainable=False)
        self.output_bias = tf.Variable(tf.zeros_like(layers.output.bias), trainable=False)
        self.assign_from(model)

    def assign_from(self, model) -> None:
        layers = self.layers_of(model)
        for cell, layer in zip(self.cells, layers.recurrent):
            cell.set_weights(layer.cell.get_weights())
        self.embedding.assign(tf.cast(layers.embedding.embeddings, tf.float32))
        self.output_kernel.assign(tf.cast(layers.output.kernel, tf.float32))
        self.output_bias.assign(tf.cast(layers.output.bias, tf.float32))

    def zero_state(self, batch_size):
        return tf.zeros([batch_size, self.state_size], tf.float32)

    def joined_kernels(self):
        return None  # nothing to join: the cells keep their own weights

    def step(self, token, state, kernels=None):
        """token [B] int32, state [B, S] -> logits [B, V], new state [B, S]."""
        parts = tf.split(state, self.state_sizes, axis=-1)
        x, new_parts = tf.gather(self.embedding, token), []
        for cell in self.cells:
            n = len(tf.nest.flatten(cell.state_size))
            x, new_state = cell(x, parts[:n])
            parts = parts[n:]
            new_parts.extend(tf.nest.flatten(new_state))
        logits = tf.matmul(x, self.output_kernel) + self.output_bias
        return logits, tf.concat(new_parts, axis=-1) if len(new_parts) > 1 else new_parts[0]
