"""Echo state network reservoir: a Keras cell and layer with fixed, seeded weights.

    x_t = (1 - a) x_{t-1} + a * f(W_in u_t + b + W x_{t-1})

Output feedback (W_fb y_{t-1}) is the last `feedback_features` columns of the
input: the model feeds its previous output there (the teacher's value while
training, its own prediction when free-running); `feedback_scaling` scales
those weights apart from the other inputs'.

W is sparse (`connectivity`) and rescaled so that its spectral radius (largest
|eigenvalue|, computed with numpy at build time) is exactly `spectral_radius`.
Nothing here trains: a readout (`keras_rnn.layers.readout`) is fitted on the
states. `ESNInitializer` gives the trainable Keras RNNs the same kind of start
(Sutskever et al. 2013), and `echo_state_property` checks that the reservoir
forgets its initial state.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from keras_rnn import UserError

# Column blocks of W in `ReservoirCell.run`: independent matmuls the executor runs on both cores
# (a batch-1 oneDNN matmul uses one); 4 was the fastest of 1, 2 and 4 when it was chosen (2026-11-23).
RECURRENT_BLOCKS = 4

# Above this, building (dense W in float32) plus solving the ridge system (float64) is refused.
MAX_RESERVOIR_BYTES = 4 * 2**30


def estimated_bytes(units: int, inputs: int = 1) -> int:
    """Dense W and W_in in float32, plus the float64 ridge system (XᵀX and a solver copy)."""
    features = units + inputs + 1
    return 4 * units * (units + inputs + 1) + 2 * 8 * features * features


def check_size(units: int, inputs: int = 1, limit: int = MAX_RESERVOIR_BYTES) -> None:
    need = estimated_bytes(units, inputs)
    if need > limit:
        raise UserError(
            f"a reservoir of {units} units needs about {need / 2**30:.1f} GiB "
            f"(dense weights + ridge system), more than the {limit / 2**30:.1f} GiB limit: "
            "use fewer units"
        )


def scale_to_spectral_radius(w: np.ndarray, radius: float) -> np.ndarray:
    current = np.max(np.abs(np.linalg.eigvals(w.astype(np.float64))))
    if current == 0:
        raise ValueError("the reservoir matrix has no non-zero eigenvalue: raise connectivity")
    return w * (radius / current)


def sparse_uniform(rng: np.random.Generator, shape, density: float) -> np.ndarray:
    """Uniform in [-1, 1] where a Bernoulli(density) mask is set, zero elsewhere."""
    return rng.uniform(-1, 1, shape) * (rng.random(shape) < density)


@keras.saving.register_keras_serializable(package="keras_rnn")
class ReservoirCell(keras.layers.Layer):
    """One leaky-integrator ESN step; use inside `keras.layers.RNN` (or `Reservoir`)."""

    def __init__(
        self,
        units: int,
        spectral_radius: float = 0.9,
        leak_rate: float = 1.0,
        input_scaling: float = 1.0,
        bias_scaling: float = 0.0,
        connectivity: float = 0.1,
        input_connectivity: float = 1.0,
        activation="tanh",
        seed: int = 0,
        max_bytes: int = MAX_RESERVOIR_BYTES,
        feedback_features: int = 0,
        feedback_scaling: float | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if spectral_radius <= 0:
            raise UserError(f"spectral radius must be > 0, got {spectral_radius}")
        if not 0 < leak_rate <= 1:
            raise UserError(f"leak rate must be in (0, 1], got {leak_rate}")
        for name, value in (("connectivity", connectivity), ("input connectivity", input_connectivity)):
            if not 0 < value <= 1:
                raise UserError(f"{name} must be in (0, 1], got {value}")
        check_size(units, limit=max_bytes)
        self.units, self.spectral_radius, self.leak_rate = units, spectral_radius, leak_rate
        self.input_scaling, self.bias_scaling = input_scaling, bias_scaling
        self.connectivity, self.input_connectivity = connectivity, input_connectivity
        self.activation = keras.activations.get(activation)
        self.seed, self.max_bytes = seed, max_bytes
        self.feedback_features, self.feedback_scaling = feedback_features, feedback_scaling
        self.state_size = units
        self.output_size = units

    def build(self, input_shape):
        inputs = input_shape[-1]
        check_size(self.units, inputs, limit=self.max_bytes)
        rng = np.random.default_rng(self.seed)
        w = scale_to_spectral_radius(
            sparse_uniform(rng, (self.units, self.units), self.connectivity), self.spectral_radius
        )
        if self.feedback_features > inputs:
            raise UserError(
                f"feedback_features={self.feedback_features} but the input has only {inputs} features"
            )
        scale = np.full((inputs, 1), self.input_scaling)
        if self.feedback_features and self.feedback_scaling is not None:
            scale[inputs - self.feedback_features :] = self.feedback_scaling  # W_fb: the last columns
        w_in = scale * sparse_uniform(rng, (inputs, self.units), self.input_connectivity)
        bias = self.bias_scaling * rng.uniform(-1, 1, self.units)

        # Stored transposed (x @ kernel), as Keras cells do. The values are given as
        # initializers, so they are set even when the layer is built inside a tf.function.
        def weight(value, name):
            return self.add_weight(
                shape=value.shape,
                initializer=lambda shape, dtype=None: value.astype(dtype or "float32"),
                trainable=False,
                name=name,
            )

        self.kernel = weight(w_in, "input_kernel")
        self.recurrent_kernel = weight(w.T, "recurrent_kernel")
        self.bias = weight(bias, "bias")

    def call(self, inputs, states, training=None):
        prev = states[0] if isinstance(states, (list, tuple)) else states
        pre = (
            keras.ops.matmul(inputs, self.kernel) + self.bias + keras.ops.matmul(prev, self.recurrent_kernel)
        )
        new = (1 - self.leak_rate) * prev + self.leak_rate * self.activation(pre)
        return new, [new]

    def run(self, sequences, state):
        """The same steps as `call` over a whole sequence: [B, T, F] from `state` [B, units] ->
        states [B, T, units]. Faster than Keras' generic loop: the input projection of every
        step in one matmul, then per step W in column blocks, independent matmuls that
        TensorFlow runs on separate cores (`benchmarks/step_probe.py` compares it with Keras' loop).
        Computes in the dtype of `sequences`."""
        dtype = sequences.dtype
        drive = keras.ops.matmul(sequences, keras.ops.cast(self.kernel, dtype)) + keras.ops.cast(
            self.bias, dtype
        )
        edges = np.linspace(0, self.units, min(RECURRENT_BLOCKS, self.units) + 1).astype(int)
        recurrent_kernel = keras.ops.cast(self.recurrent_kernel, dtype)
        blocks = [recurrent_kernel[:, a:b] for a, b in zip(edges[:-1], edges[1:])]
        a = self.leak_rate

        def step(prev, drive_t):
            pre = drive_t + tf.concat([tf.matmul(prev, w) for w in blocks], axis=-1)
            return (1 - a) * prev + a * self.activation(pre)

        states = tf.scan(step, tf.transpose(drive, [1, 0, 2]), initializer=state)
        return tf.transpose(states, [1, 0, 2])

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "spectral_radius": self.spectral_radius,
            "leak_rate": self.leak_rate,
            "input_scaling": self.input_scaling,
            "bias_scaling": self.bias_scaling,
            "connectivity": self.connectivity,
            "input_connectivity": self.input_connectivity,
            "activation": keras.activations.serialize(self.activation),
            "seed": self.seed,
            "max_bytes": self.max_bytes,
            "feedback_features": self.feedback_features,
            "feedback_scaling": self.feedback_scaling,
        }


_CELL_ARGS = (
    "units",
    "spectral_radius",
    "leak_rate",
    "input_scaling",
    "bias_scaling",
    "connectivity",
    "input_connectivity",
    "activation",
    "seed",
    "max_bytes",
    "feedback_features",
    "feedback_scaling",
)


@keras.saving.register_keras_serializable(package="keras_rnn")
class Reservoir(keras.layers.RNN):
    """`keras.layers.RNN(ReservoirCell(...))` with the cell's arguments as its own."""

    def __init__(
        self,
        units: int,
        spectral_radius: float = 0.9,
        leak_rate: float = 1.0,
        input_scaling: float = 1.0,
        bias_scaling: float = 0.0,
        connectivity: float = 0.1,
        input_connectivity: float = 1.0,
        activation="tanh",
        seed: int = 0,
        max_bytes: int = MAX_RESERVOIR_BYTES,
        feedback_features: int = 0,
        feedback_scaling: float | None = None,
        return_sequences: bool = True,
        return_state: bool = False,
        **kwargs,
    ):
        kwargs.pop("cell", None)
        cell = ReservoirCell(
            units,
            spectral_radius,
            leak_rate,
            input_scaling,
            bias_scaling,
            connectivity,
            input_connectivity,
            activation,
            seed,
            max_bytes,
            feedback_features,
            feedback_scaling,
            name="cell",
            dtype=kwargs.get("dtype"),
        )
        super().__init__(cell, return_sequences=return_sequences, return_state=return_state, **kwargs)

    def inner_loop(self, sequences, initial_state, mask, training=False):
        """`ReservoirCell.run` unless masking, reversal or unrolling asks for Keras' own loop."""
        if mask is not None or self.go_backwards or self.unroll:
            return super().inner_loop(sequences, initial_state, mask, training)
        states = self.cell.run(sequences, initial_state[0])
        return states[:, -1], states, [states[:, -1]]

    def get_config(self):
        base = keras.layers.Layer.get_config(self)
        cell = self.cell.get_config()
        return {
            **base,
            **{k: cell[k] for k in _CELL_ARGS},
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable(package="keras_rnn")
class ESNInitializer(keras.initializers.Initializer):
    """Sparse Gaussian recurrent kernel rescaled to a spectral radius (Sutskever et al. 2013:
    15 non-zero incoming weights per unit, radius 1.1), then trained like any other weight:
    `keras.layers.SimpleRNN(n, recurrent_initializer=ESNInitializer())`."""

    def __init__(self, spectral_radius: float = 1.1, nonzero_per_unit: int = 15, seed: int = 0):
        if spectral_radius <= 0:
            raise UserError(f"spectral radius must be > 0, got {spectral_radius}")
        self.spectral_radius, self.nonzero_per_unit, self.seed = spectral_radius, nonzero_per_unit, seed

    def __call__(self, shape, dtype=None):
        rows, cols = shape
        rng = np.random.default_rng(self.seed)
        w = np.zeros((rows, cols))
        for j in range(cols):  # each unit gets `nonzero_per_unit` random incoming weights
            picked = rng.choice(rows, min(self.nonzero_per_unit, rows), replace=False)
            w[picked, j] = rng.standard_normal(len(picked))
        return keras.ops.convert_to_tensor(
            scale_to_spectral_radius(w, self.spectral_radius), dtype=dtype or "float32"
        )

    def get_config(self):
        return {
            "spectral_radius": self.spectral_radius,
            "nonzero_per_unit": self.nonzero_per_unit,
            "seed": self.seed,
        }


def echo_state_property(layer_or_cell, inputs, seed: int = 0, scale: float = 1.0) -> np.ndarray:
    """Drive the reservoir from two different random initial states with the same `inputs`
    ([batch, time, features]); returns the distance between the two states at each step,
    [time]. It goes to zero for a reservoir that has the echo state property."""
    cell = getattr(layer_or_cell, "cell", layer_or_cell)
    inputs = keras.ops.convert_to_tensor(np.asarray(inputs, np.float32))
    if not cell.built:
        cell.build(inputs.shape)
    rng = np.random.default_rng(seed)
    shape = (inputs.shape[0], cell.units)
    a, b = (keras.ops.convert_to_tensor(rng.uniform(-scale, scale, shape).astype(np.float32)) for _ in "ab")
    distances = []
    for t in range(inputs.shape[1]):
        a, _ = cell(inputs[:, t], [a])
        b, _ = cell(inputs[:, t], [b])
        distances.append(float(keras.ops.max(keras.ops.norm(a - b, axis=-1))))
    return np.array(distances)
