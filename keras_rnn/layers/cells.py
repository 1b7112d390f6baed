"""Recurrent cells as the lectures write them, for `keras.layers.RNN(cell)`.

Keras has the LSTM and the GRU in one convention each; the slides and papers use others, and
the variants the course discusses are not in Keras at all. Each cell here is the equations
below, one `Dense`-style weight block per gate, so the weights read like the slides
(x: input, h: previous hidden state, c: previous cell state; σ the logistic sigmoid):

- `SlidesLSTMCell`: gates in the slides' order i, f, o, g (Keras: i, f, g, o)
  i, f, o = σ(W_x x + W_h h + b), g = tanh(...), c' = f⊙c + i⊙g, h' = o⊙tanh(c').
- `SlidesGRUCell(update=...)`: the reset gate applied before the recurrent matmul
  (Cho et al. 2014), r = σ(..), z = σ(..), h̃ = tanh(W_x x + W_h (r⊙h) + b), and either
  convention of the update: `"keep"`: h' = z⊙h + (1 − z)⊙h̃ (Cho et al., Keras);
  `"new"`: h' = (1 − z)⊙h + z⊙h̃ (Chung et al. 2014, most slides).
- `PeepholeLSTMCell` (Gers & Schmidhuber 2000): i, f also read p⊙c, o reads p_o⊙c'.
- `CoupledLSTMCell` (CIFG, Greff et al. 2015): no input gate, i = 1 − f.
- `MUTCell(variant=1|2|3)`: the three architectures Jozefowicz, Zaremba & Sutskever (2015)
  found by search. MUT1 adds tanh(x) and MUT2 adds x itself to hidden-size vectors, so both
  need input size = hidden size (checked when built: give them an embedding of `units`).
- `MultiplicativeCell` (Sutskever, Martens & Hinton 2011): the input picks the recurrent
  matrix, W_hh(x) = W_hf diag(W_fx x) W_fh, through `factors` factors:
  h' = tanh(W_hf ((W_fx x) ⊙ (W_fh h)) + W_hx x + b). A full input-dependent matrix for
  86 characters and 1,500 units would be 86 × 1500 × 1500 weights; the factors make it
  (86 + 2 × 1500) × F.
"""

from __future__ import annotations

import keras
from keras import ops


class _Cell(keras.layers.Layer):
    """Shared parts: `units`, the weight blocks, get_config."""

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        if units < 1:
            raise ValueError(f"units must be >= 1, got {units}")
        self.units = units

    @property
    def state_size(self):
        return self.units

    @property
    def output_size(self):
        return self.units

    def block(self, name: str, rows: int, columns: int | None = None, init="glorot_uniform"):
        return self.add_weight(shape=(rows, columns or self.units), initializer=init, name=name)

    def gate_bias(self, name: str, values: list[float]):
        """A bias of one block per gate, each block `units` long, starting at the given values."""
        start = [v for v in values for _ in range(self.units)]
        return self.add_weight(shape=(len(start),), initializer=keras.initializers.Constant(start), name=name)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


class _GatedCell(_Cell):
    """Cells whose gates are one input block, one recurrent block and one bias, each gate
    `units` wide in the order of GATE_BIASES (the gates' starting biases); LSTM-like cells
    (STATES = 2) carry [h, c]."""

    GATE_BIASES: tuple = ()
    STATES = 2

    @property
    def state_size(self):
        return [self.units] * self.STATES

    def build(self, input_shape):
        width = len(self.GATE_BIASES) * self.units
        self.kernel = self.block("kernel", input_shape[-1], width)
        self.recurrent_kernel = self.block("recurrent_kernel", self.units, width, "orthogonal")
        self.bias = self.gate_bias("bias", list(self.GATE_BIASES))

    def gates(self, x, h) -> list:
        """Every gate's pre-activation, W_x x + W_h h + b, in GATE_BIASES' order."""
        joined = ops.matmul(x, self.kernel) + ops.matmul(h, self.recurrent_kernel) + self.bias
        return ops.split(joined, len(self.GATE_BIASES), axis=-1)


@keras.saving.register_keras_serializable(package="keras_rnn")
class SlidesLSTMCell(_GatedCell):
    """The LSTM with its gates in the slides' order i, f, o, g (one [4U] block each way)."""

    GATE_BIASES = (0, 1, 0, 0)  # i, f (forget-gate bias 1), o, g

    def call(self, inputs, states):
        h, c = states
        i, f, o, g = self.gates(inputs, h)
        c = ops.sigmoid(f) * c + ops.sigmoid(i) * ops.tanh(g)
        h = ops.sigmoid(o) * ops.tanh(c)
        return h, [h, c]


@keras.saving.register_keras_serializable(package="keras_rnn")
class SlidesGRUCell(_GatedCell):
    """The GRU with the reset gate before the recurrent matmul; `update` picks the convention."""

    GATE_BIASES = (0, 0, 0)  # r, z, candidate
    STATES = 1

    def __init__(self, units: int, update: str = "new", **kwargs):
        super().__init__(units, **kwargs)
        if update not in ("new", "keep"):
            raise ValueError(
                f"update must be 'new' (h' = (1-z)h + z h~) or 'keep' (h' = z h + (1-z) h~), got {update!r}"
            )
        self.update = update

    def call(self, inputs, states):
        (h,) = states
        x_r, x_z, x_h = ops.split(ops.matmul(inputs, self.kernel) + self.bias, 3, axis=-1)
        u_rz, u_h = self.recurrent_kernel[:, : 2 * self.units], self.recurrent_kernel[:, 2 * self.units :]
        h_r, h_z = ops.split(ops.matmul(h, u_rz), 2, axis=-1)
        r, z = ops.sigmoid(x_r + h_r), ops.sigmoid(x_z + h_z)
        candidate = ops.tanh(x_h + ops.matmul(r * h, u_h))
        h = (1 - z) * h + z * candidate if self.update == "new" else z * h + (1 - z) * candidate
        return h, [h]

    def get_config(self):
        return {**super().get_config(), "update": self.update}


@keras.saving.register_keras_serializable(package="keras_rnn")
class PeepholeLSTMCell(_GatedCell):
    """The LSTM whose gates also see the cell state (diagonal "peephole" weights)."""

    GATE_BIASES = (0, 1, 0, 0)  # i, f, o, g

    def build(self, input_shape):
        super().build(input_shape)
        self.peepholes = self.add_weight(
            shape=(3, self.units), initializer="zeros", name="peepholes"
        )  # i, f, o

    def call(self, inputs, states):
        h, c = states
        i, f, o, g = self.gates(inputs, h)
        i = ops.sigmoid(i + self.peepholes[0] * c)
        f = ops.sigmoid(f + self.peepholes[1] * c)
        c = f * c + i * ops.tanh(g)
        h = ops.sigmoid(o + self.peepholes[2] * c) * ops.tanh(c)
        return h, [h, c]


@keras.saving.register_keras_serializable(package="keras_rnn")
class CoupledLSTMCell(_GatedCell):
    """The LSTM with coupled input and forget gates (i = 1 - f): three gate blocks, not four."""

    GATE_BIASES = (1, 0, 0)  # f, o, g

    def call(self, inputs, states):
        h, c = states
        f, o, g = self.gates(inputs, h)
        f = ops.sigmoid(f)
        c = f * c + (1 - f) * ops.tanh(g)
        h = ops.sigmoid(o) * ops.tanh(c)
        return h, [h, c]


@keras.saving.register_keras_serializable(package="keras_rnn")
class MUTCell(_Cell):
    """MUT1, MUT2 or MUT3 (Jozefowicz et al. 2015); x, h -> h' with an update gate z and reset r:

    MUT1: z = σ(W_xz x + b_z),             r = σ(W_xr x + W_hr h + b_r),
          h' = tanh(W_hh (r⊙h) + tanh(x) + b_h)⊙z + h⊙(1 − z)
    MUT2: z = σ(W_xz x + W_hz h + b_z),    r = σ(x + W_hr h + b_r),
          h' = tanh(W_hh (r⊙h) + W_xh x + b_h)⊙z + h⊙(1 − z)
    MUT3: z = σ(W_xz x + W_hz tanh(h) + b_z), r = σ(W_xr x + W_hr h + b_r),
          h' = tanh(W_hh (r⊙h) + W_xh x + b_h)⊙z + h⊙(1 − z)
    """

    def __init__(self, units: int, variant: int = 1, **kwargs):
        super().__init__(units, **kwargs)
        if variant not in (1, 2, 3):
            raise ValueError(f"variant must be 1, 2 or 3, got {variant!r}")
        self.variant = variant

    def build(self, input_shape):
        features = input_shape[-1]
        if self.variant in (1, 2) and features != self.units:
            what = "tanh(x)" if self.variant == 1 else "x"
            raise ValueError(
                f"MUT{self.variant} adds {what} to a vector of the hidden size, so its input size must equal "
                f"units ({self.units}), got {features}"
            )
        self.w_xz = self.block("w_xz", features)
        self.w_hz = None if self.variant == 1 else self.block("w_hz", self.units, init="orthogonal")
        self.w_xr = None if self.variant == 2 else self.block("w_xr", features)
        self.w_hr = self.block("w_hr", self.units, init="orthogonal")
        self.w_hh = self.block("w_hh", self.units, init="orthogonal")
        self.w_xh = None if self.variant == 1 else self.block("w_xh", features)
        self.b_z, self.b_r, self.b_h = (self.gate_bias(name, [0]) for name in ("b_z", "b_r", "b_h"))

    def call(self, inputs, states):
        (h,) = states
        x = inputs
        z = ops.matmul(x, self.w_xz) + self.b_z
        if self.variant == 2:
            z += ops.matmul(h, self.w_hz)
        elif self.variant == 3:
            z += ops.matmul(ops.tanh(h), self.w_hz)
        r_input = x if self.variant == 2 else ops.matmul(x, self.w_xr)
        r = ops.sigmoid(r_input + ops.matmul(h, self.w_hr) + self.b_r)
        candidate_input = ops.tanh(x) if self.variant == 1 else ops.matmul(x, self.w_xh)
        candidate = ops.tanh(ops.matmul(r * h, self.w_hh) + candidate_input + self.b_h)
        z = ops.sigmoid(z)
        h = candidate * z + h * (1 - z)
        return h, [h]

    def get_config(self):
        return {**super().get_config(), "variant": self.variant}


@keras.saving.register_keras_serializable(package="keras_rnn")
class MultiplicativeCell(_Cell):
    """The factored multiplicative RNN: the input gates `factors` products of projections."""

    def __init__(self, units: int, factors: int = 64, **kwargs):
        super().__init__(units, **kwargs)
        if factors < 1:
            raise ValueError(f"factors must be >= 1, got {factors}")
        self.factors = factors

    def build(self, input_shape):
        features = input_shape[-1]
        self.w_fx = self.block("w_fx", features, self.factors)
        self.w_fh = self.block("w_fh", self.units, self.factors)
        self.w_hf = self.block("w_hf", self.factors, self.units)
        self.w_hx = self.block("w_hx", features)
        self.b = self.gate_bias("b", [0])

    def call(self, inputs, states):
        (h,) = states
        factors = ops.matmul(inputs, self.w_fx) * ops.matmul(h, self.w_fh)
        h = ops.tanh(ops.matmul(factors, self.w_hf) + ops.matmul(inputs, self.w_hx) + self.b)
        return h, [h]

    def get_config(self):
        return {**super().get_config(), "factors": self.factors}


# The cells by the names `train.py --task charlm --cell NAME` and the `cells` lecture use. The two
# GRUs are named after what z does: `gru-z-new` h' = (1-z)h + z h~ (the Georgia Tech deck, Chung et
# al. 2014), `gru-z-keep` h' = z h + (1-z) h~ (the Hinton/Cheng and CS231n decks, Cho et al. 2014, Keras).
LECTURE_CELLS = {
    "slides-lstm": (SlidesLSTMCell, {}),
    "gru-z-new": (SlidesGRUCell, {"update": "new"}),
    "gru-z-keep": (SlidesGRUCell, {"update": "keep"}),
    "peephole-lstm": (PeepholeLSTMCell, {}),
    "coupled-lstm": (CoupledLSTMCell, {}),
    "mut1": (MUTCell, {"variant": 1}),
    "mut2": (MUTCell, {"variant": 2}),
    "mut3": (MUTCell, {"variant": 3}),
    "mrnn": (MultiplicativeCell, {}),
}
SAME_SIZE_INPUT = ("mut1", "mut2")  # input size must equal units
# the GRUs' names before they were named after what they compute: still taken, and an old run's
# config.json naming one loads as the new name (`config.option(legacy=...)`)
CELL_ALIASES = {"slides-gru": "gru-z-new", "slides-gru-keep": "gru-z-keep"}
CELL_ALIASES_HELP = "old names: " + ", ".join(f"{old} = {new}" for old, new in CELL_ALIASES.items())


def lecture_cell(name: str, units: int, factors: int = 0) -> keras.layers.Layer:
    """A new cell of `LECTURE_CELLS[name]`; `factors` (0 = units) only for the multiplicative RNN."""
    cls, kwargs = LECTURE_CELLS[name]
    if cls is MultiplicativeCell:
        kwargs = {"factors": factors or units}
    return cls(units, **kwargs)


def lecture_cell_states(name: str) -> int:
    """States the cell carries: 2 ([h, c]) for the LSTM-like cells, else 1."""
    return getattr(LECTURE_CELLS[name][0], "STATES", 1)
