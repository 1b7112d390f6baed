"""The decoder that translation and captioning share.

One `step` is the whole decoder at decoding time; greedy and beam search
(`keras_rnn.decoding`), the SavedModels and the LiteRT decoder-step models all call it.
Two forms of attention:

- input feeding (`bahdanau`, `luong`: Bahdanau et al. 2015, the score additive or
  multiplicative): `α = attention(s_{i-1}, h)`, `c_i = Σ α_j h_j`,
  `s_i = cell([y_{i-1}; c_i], s_{i-1})`, `logits = W [s_i; c_i]`. Training runs step by
  step over the target (`tf.scan`: each step needs the last context) only what waits for
  that context; the cell's input projection of y, and the readout, run once over all steps.
  `query="conditional"` (Nematus's conditional GRU, Sennrich et al. 2017): a first cell reads
  y_{i-1}, `s'_i = cell(y_{i-1}, s_{i-1})`, attention asks with s'_i (it knows the word just
  written), and a second cell reads the context, `s_i = context_cell(c_i, s'_i)`;
- `cross` (Luong et al. 2015's global attention without input feeding; the TensorFlow
  tutorial's form): `s_i = cell(y_{i-1}, s_{i-1})`, then `c_i = Σ α_j h_j` with
  `α = attention(s_i, h)` (multiplicative score), `logits = W [s_i; c_i]`. Nothing in
  the recurrence waits for attention, so training runs the RNN layer over the whole
  target at once (cuDNN-eligible on a GPU) and attends from all steps together.

The readout turns (s_i, c_i) into logits: `concat` is `W [s_i; c_i]` (Bahdanau's, Luong's);
`residual` is `W LayerNorm(s_i + W_c c_i)` (the TensorFlow tutorial's: attention output added
to the RNN output, normalised), whose vocabulary projection reads U features instead of
U + D: at U = 256, D = 512 three times fewer multiply-adds in the largest matrix.

With `attention="none"` the context c_i is the encoder's summary (the whole source in
one vector, Cho et al. 2014; for captioning the image vector, "show and tell") at the
same size: the baseline. The initial state comes from the summaries through a tanh
"bridge" layer per state of the cell.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from keras_rnn.layers.attention import BahdanauAttention

CELLS = {"gru": keras.layers.GRUCell, "lstm": keras.layers.LSTMCell}
RNN_LAYERS = {"gru": keras.layers.GRU, "lstm": keras.layers.LSTM}
ATTENTION = ("bahdanau", "luong", "cross", "none")
READOUTS = ("concat", "residual")
QUERIES = ("previous", "conditional")


def states_per_cell(cell: str) -> int:
    return 2 if cell == "lstm" else 1


@keras.saving.register_keras_serializable(package="keras_rnn")
class AttentionDecoder(keras.layers.Layer):
    """A recurrent decoder over a memory, with or without attention; `step` is one output token."""

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int,
        units: int,
        memory_dim: int,
        cell: str = "gru",
        attention: str = "bahdanau",
        attention_units: int = 64,
        dropout: float = 0.0,
        readout: str = "concat",
        input_dropout: float = 0.0,
        query: str = "previous",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocab_size, self.embedding_dim, self.units, self.memory_dim = (
            vocab_size,
            embedding_dim,
            units,
            memory_dim,
        )
        self.cell_type, self.attention_type, self.attention_units = cell, attention, attention_units
        self.n_states = states_per_cell(cell)
        if attention not in ATTENTION:
            raise ValueError(f"attention must be one of {ATTENTION}, got {attention!r}")
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
        if query not in QUERIES:
            raise ValueError(f"query must be one of {QUERIES}, got {query!r}")
        if query == "conditional" and attention not in ("bahdanau", "luong"):
            raise ValueError("query='conditional' is a form of input-feeding attention (bahdanau, luong)")
        self.readout_type, self.query = readout, query
        self.conditional = query == "conditional"
        self.cross = attention == "cross"
        self.embedding = keras.layers.Embedding(vocab_size, embedding_dim, name="target_embedding")
        if self.cross:  # the whole-sequence layer trains; its cell decodes step by step
            self.rnn = RNN_LAYERS[cell](units, return_sequences=True, name="rnn")
            self.cell = self.rnn.cell
        else:
            self.cell = CELLS[cell](units, name="cell")
        if self.conditional:  # reads the context after `cell` has read the previous token
            self.context_cell = CELLS[cell](units, name="context_cell")
        self.bridges = [
            keras.layers.Dense(units, activation="tanh", name=f"bridge_{j}") for j in range(self.n_states)
        ]
        score = "luong" if self.cross else attention
        self.attention = (
            None if attention == "none" else BahdanauAttention(attention_units, score=score, name="attention")
        )
        self.dropout = dropout
        self.feature_dropout = keras.layers.Dropout(dropout, name="feature_dropout")  # training only
        self.input_dropout = input_dropout  # on the previous tokens' embeddings, in teacher forcing
        self.embedding_dropout = keras.layers.Dropout(input_dropout, name="embedding_dropout")
        if readout == "residual":
            self.context_projection = keras.layers.Dense(units, use_bias=False, name="context_projection")
            self.readout_norm = keras.layers.LayerNormalization(name="readout_norm")
        self.readout = keras.layers.Dense(vocab_size, dtype="float32", name="logits")

    def build(self, *args, **kwargs):
        self.embedding.build((None,))
        if self.cross:
            self.rnn.build((None, None, self.embedding_dim))
        elif self.conditional:
            self.cell.build((None, self.embedding_dim))
            self.context_cell.build((None, self.memory_dim))
        else:
            self.cell.build((None, self.embedding_dim + self.memory_dim))
        for bridge in self.bridges:
            bridge.build((None, self.memory_dim))
        if self.attention is not None:
            self.attention.build((None, self.units), (None, None, self.memory_dim))
        if self.readout_type == "residual":
            self.context_projection.build((None, self.memory_dim))
            self.readout_norm.build((None, self.units))
            self.readout.build((None, self.units))
        else:
            self.readout.build((None, self.units + self.memory_dim))
        self.built = True

    def start(self, memory, memory_mask, summaries):
        """What stays fixed while decoding one source, and the initial state (a list)."""
        constants = {"memory": memory, "mask": ops.cast(memory_mask, "float32"), "summary": summaries[0]}
        if self.attention is not None:
            constants["keys"] = self.attention.project_memory(memory)
        return constants, [bridge(s) for bridge, s in zip(self.bridges, summaries)]

    def step(self, tokens, state, constants):
        """tokens [N] (previous output), state list -> logits [N, V], new state list, attention [N, P]."""
        features, state, weights = self.features(tokens, state, constants)
        return self.logits(features), state, weights

    def feature_size(self) -> int:
        return self.units if self.readout_type == "residual" else self.units + self.memory_dim

    def combine(self, output, context):
        """The readout's features from s_i [..., U] and c_i [..., D]: [s_i; c_i] or LayerNorm(s_i + W_c c_i)."""
        if self.readout_type == "residual":
            return self.readout_norm(output + self.context_projection(context))
        return ops.concatenate([output, context], axis=-1)

    def logits(self, features, training=None):
        """The readout's features [..., feature_size()] -> logits [..., V] (dropout only in training)."""
        return self.readout(self.feature_dropout(features, training=training))

    def features(self, tokens, state, constants):
        """One step up to the vocabulary projection: the readout's features, new state, attention."""
        embedded = self.embedding(tokens)
        if self.cross:
            output, new_state = self.cell(embedded, state)
            context, weights = self.attention(
                output, constants["memory"], constants["mask"], constants["keys"]
            )
            return self.combine(output, context), list(new_state), weights
        if self.conditional:
            output, state = self.cell(embedded, state)
            context, weights = self.attention(
                output, constants["memory"], constants["mask"], constants["keys"]
            )
            output, new_state = self.context_cell(context, state)
            return self.combine(output, context), list(new_state), weights
        if self.attention is None:
            context, weights = constants["summary"], ops.zeros_like(constants["mask"])
        else:
            context, weights = self.attention(
                state[0], constants["memory"], constants["mask"], constants["keys"]
            )
        output, new_state = self.cell(ops.concatenate([embedded, context], axis=-1), state)
        return self.combine(output, context), list(new_state), weights

    def call(self, target_in, memory, memory_mask, summaries):
        """Teacher forcing: target input ids [B, T] -> logits [B, T, V]."""
        constants, state = self.start(memory, memory_mask, summaries)
        if self.cross:
            outputs = self.rnn(self.embedding_dropout(self.embedding(target_in)), initial_state=state)
            context, _ = self.attention(outputs, memory, memory_mask, constants["keys"])
            return self.logits(self.combine(outputs, context))

        # The input projection W [y; c] of the cell splits into W_y y, known for every step up front
        # (one matmul over the whole target; for `none` c is fixed too), and W_c c, which waits for
        # the step's attention. The readout (combine, vocabulary projection) runs after the loop.
        kernel, input_bias, recurrent_kernel, recurrent_bias = self._cell_weights(self.cell)  # cast once
        embedding_kernel, context_kernel = kernel[: self.embedding_dim], kernel[self.embedding_dim :]
        embedded = self.embedding_dropout(self.embedding(target_in))
        projected = ops.matmul(embedded, embedding_kernel) + input_bias
        if self.attention is None:
            projected = projected + ops.matmul(constants["summary"], context_kernel)[:, None]
        if self.conditional:  # the second cell reads only the context
            second_kernel, second_bias, second_recurrent, second_recurrent_bias = self._cell_weights(
                self.context_cell
            )

        def one_step(carry, projected_t):
            state = carry[2]
            recurrent = ops.matmul(state[0], recurrent_kernel) + recurrent_bias
            if self.conditional:
                _, state = self._cell_after_projections(self.cell, projected_t, recurrent, state)
                context, _ = self.attention(state[0], memory, constants["mask"], constants["keys"])
                projected_t = ops.matmul(context, second_kernel) + second_bias
                recurrent = ops.matmul(state[0], second_recurrent) + second_recurrent_bias
                output, state = self._cell_after_projections(self.context_cell, projected_t, recurrent, state)
                return output, context, state
            if self.attention is None:
                context = constants["summary"]
            else:
                context, _ = self.attention(state[0], memory, constants["mask"], constants["keys"])
                projected_t = projected_t + ops.matmul(context, context_kernel)
            output, state = self._cell_after_projections(self.cell, projected_t, recurrent, state)
            return output, context, state

        batch = ops.shape(target_in)[0]
        first = (
            ops.zeros((batch, self.units), self.compute_dtype),
            ops.zeros((batch, self.memory_dim), self.compute_dtype),
            state,
        )
        outputs, contexts, _ = tf.scan(one_step, ops.transpose(projected, (1, 0, 2)), initializer=first)
        features = self.combine(ops.transpose(outputs, (1, 0, 2)), ops.transpose(contexts, (1, 0, 2)))
        return self.logits(features)  # one readout for all steps

    def _cell_weights(self, cell):
        """A cell's kernel, input bias, recurrent kernel and recurrent bias in the compute dtype."""
        cast = lambda weight: ops.cast(weight, self.compute_dtype)  # noqa: E731
        bias = cast(cell.bias)
        if self.cell_type == "gru":  # reset_after: [input; recurrent] bias rows
            return cast(cell.kernel), bias[0], cast(cell.recurrent_kernel), bias[1]
        return cast(cell.kernel), bias, cast(cell.recurrent_kernel), 0.0

    def _cell_after_projections(self, cell, projected, recurrent, state):
        """Keras' GRUCell / LSTMCell equations (their defaults: GRU reset_after) from the input
        projection `W x + b` and the recurrent one `U h + b_h`, both computed by the caller;
        `test_translate` holds them equal to the cell."""
        if self.cell_type == "gru":
            x_z, x_r, x_h = ops.split(projected, 3, axis=-1)
            r_z, r_r, r_h = ops.split(recurrent, 3, axis=-1)
            z = cell.recurrent_activation(x_z + r_z)
            r = cell.recurrent_activation(x_r + r_r)
            h = z * state[0] + (1 - z) * cell.activation(x_h + r * r_h)
            return h, [h]
        i, f, c, o = ops.split(projected + recurrent, 4, axis=-1)
        c = cell.recurrent_activation(f) * state[1] + cell.recurrent_activation(i) * cell.activation(c)
        h = cell.recurrent_activation(o) * cell.activation(c)
        return h, [h, c]

    def compute_output_spec(self, target_in, memory, memory_mask, summaries):
        return keras.KerasTensor((*target_in.shape, self.vocab_size), "float32")

    # The LiteRT form: the state as ONE tensor, fixed shapes. It packs the cell's states and,
    # without attention, the summary the classic decoder reads at every step.
    def packed_state_size(self) -> int:
        return self.n_states * self.units + (self.memory_dim if self.attention is None else 0)

    def pack(self, state, summaries):
        """`start`'s state list -> the packed state [B, packed_state_size()]."""
        return tf.concat(state + ([summaries[0]] if self.attention is None else []), axis=-1)

    def packed_step(self, token, state, memory, mask):
        """`step` on a packed state: token [B], state, memory [B, P, D], mask [B, P] (float)
        -> {logits, state, attention}."""
        constants = {"memory": memory, "mask": mask}
        cell_size = self.n_states * self.units
        if self.attention is not None:
            constants["keys"] = self.attention.project_memory(memory)
        else:
            constants["summary"] = state[:, cell_size:]
        states = tf.split(state[:, :cell_size], self.n_states, axis=-1)
        logits, states, attention = self.step(token, states, constants)
        if self.attention is None:
            states = states + [constants["summary"]]
        return {"logits": logits, "state": tf.concat(states, axis=-1), "attention": attention}

    def get_config(self):
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "embedding_dim": self.embedding_dim,
            "units": self.units,
            "memory_dim": self.memory_dim,
            "cell": self.cell_type,
            "attention": self.attention_type,
            "attention_units": self.attention_units,
            "dropout": self.dropout,
            "readout": self.readout_type,
            "input_dropout": self.input_dropout,
            "query": self.query,
        }
