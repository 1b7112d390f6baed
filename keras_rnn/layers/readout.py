"""Closed-form (ridge regression) readout, fitted through `model.fit`.

`RidgeReadout` is a linear layer that can also accumulate the normal
equations XᵀX and XᵀY over batches (float64) and solve
(XᵀX + alpha·I) W = XᵀY for its weights. `EchoStateNetwork` is the model whose
`train_step` does exactly that instead of a gradient step, so `fit` keeps its
callbacks, progress bar and history; samples with weight 0 (the washout) are
left out of the fit and the loss.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from keras_rnn.layers.reservoir import Reservoir


def symmetric_product(wx, x, blocks: int = 4):
    """(wx)ᵀ x where wx = diag(w) x, so the result is symmetric: only the column blocks on and
    above the diagonal are multiplied (10 of 16 products for 4 blocks), the rest mirrored."""
    edges = np.linspace(0, x.shape[-1], min(blocks, x.shape[-1]) + 1).astype(int)
    spans = list(zip(edges[:-1], edges[1:]))
    upper = {
        (i, j): tf.matmul(wx[:, a:b], x[:, c:d], transpose_a=True)
        for i, (a, b) in enumerate(spans)
        for j, (c, d) in enumerate(spans)
        if j >= i
    }
    return tf.concat(
        [
            tf.concat(
                [upper[(i, j)] if j >= i else tf.transpose(upper[(j, i)]) for j in range(len(spans))], axis=1
            )
            for i in range(len(spans))
        ],
        axis=0,
    )


@keras.saving.register_keras_serializable(package="keras_rnn")
class RidgeReadout(keras.layers.Layer):
    """y = x W + b, with W and b set by `solve()` from what `accumulate()` has seen."""

    def __init__(self, units: int, alpha: float = 1e-8, **kwargs):
        super().__init__(**kwargs)
        self.units, self.alpha = units, alpha

    def build(self, input_shape):
        d = input_shape[-1]
        # Under tf.distribute every replica computes the same sums and solution (accumulate
        # all-reduces): each copy takes the first replica's update.
        same = {"trainable": False, "aggregation": "only_first_replica"}
        self.kernel = self.add_weight(shape=(d, self.units), initializer="zeros", name="kernel", **same)
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias", **same)
        # Normal equations over [1; x], in float64: float32 loses the digits small errors need.
        self.xtx = self.add_weight(
            shape=(d + 1, d + 1), initializer="zeros", dtype="float64", name="xtx", **same
        )
        self.xty = self.add_weight(
            shape=(d + 1, self.units), initializer="zeros", dtype="float64", name="xty", **same
        )

    def call(self, inputs):
        return keras.ops.matmul(inputs, self.kernel) + self.bias

    def accumulate(self, inputs, targets, sample_weight=None):
        x = keras.ops.reshape(inputs, (-1, inputs.shape[-1]))
        y = keras.ops.reshape(targets, (-1, self.units))
        if sample_weight is not None:  # rows of weight 0 (washout) are dropped: XᵀX costs rows × d²
            w = keras.ops.reshape(sample_weight, (-1,))
            keep = keras.ops.not_equal(w, 0)
            x, y, w = tf.boolean_mask(x, keep), tf.boolean_mask(y, keep), tf.boolean_mask(w, keep)
            w = keras.ops.cast(w, "float64")
        x, y = keras.ops.cast(x, "float64"), keras.ops.cast(y, "float64")
        x = keras.ops.concatenate([keras.ops.ones_like(x[:, :1]), x], axis=-1)
        wx = x if sample_weight is None else x * w[:, None]
        xtx, xty = symmetric_product(wx, x), tf.matmul(wx, y, transpose_a=True)
        replica = tf.distribute.get_replica_context()
        if (
            replica is not None and replica.num_replicas_in_sync > 1
        ):  # tf.distribute: sum every replica's part
            xtx, xty = replica.all_reduce("sum", [xtx, xty])
        self.xtx.assign_add(xtx)
        self.xty.assign_add(xty)

    def solve(self):
        eye = keras.ops.eye(self.xtx.shape[0], dtype="float64")
        w = keras.ops.solve(self.xtx + self.alpha * eye, self.xty)
        self.bias.assign(keras.ops.cast(w[0], self.bias.dtype))
        self.kernel.assign(keras.ops.cast(w[1:], self.kernel.dtype))

    def reset(self):
        self.xtx.assign(keras.ops.zeros_like(self.xtx))
        self.xty.assign(keras.ops.zeros_like(self.xty))

    def get_config(self):
        return {**super().get_config(), "units": self.units, "alpha": self.alpha}


def closed_form_step(model, x, y, sample_weight, features, targets, readout_inputs=None) -> dict:
    """A `train_step` without gradients, for a model whose last layer is a `RidgeReadout`
    (`model.readout`): add the batch's `features` and `targets` to the normal equations, solve,
    and report the compiled loss and metrics of the solved readout on `readout_inputs`
    (default: the features), as `fit` expects."""
    model.readout.accumulate(features, targets, sample_weight)
    model.readout.solve()
    y_pred = model.readout(features if readout_inputs is None else readout_inputs)
    loss = model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)
    loss *= tf.distribute.get_replica_context().num_replicas_in_sync  # undo tf.distribute's scaling
    rows = tf.shape(tf.nest.flatten(x)[0])[0]  # weighted as Keras' train_step: replicas' unequal parts
    for metric in model.metrics:
        if metric.name == "loss":
            metric.update_state(loss, sample_weight=rows)
    return model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)


@keras.saving.register_keras_serializable(package="keras_rnn")
class EchoStateNetwork(keras.Model):
    """Functional model: series [batch, time, features] -> Reservoir -> RidgeReadout on
    [u_t; x_t] -> [batch, time, outputs]. A `keras.Model` subclass only to replace
    `train_step` (closed-form fit instead of a gradient step).

    The last `outputs` input features are the previous target (teacher forcing);
    `generate` feeds the predictions back there (free-running).

    `readout="gradient"` swaps the closed form for a trainable `Dense` readout and
    the ordinary gradient `train_step` (the optimizer given to `compile`).
    """

    READOUTS = ("ridge", "gradient")

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        reservoir: dict,
        alpha: float = 1e-8,
        readout: str = "ridge",
        precision: str = "float32",
        **kwargs,
    ):
        if readout not in self.READOUTS:
            raise ValueError(f"readout must be one of {self.READOUTS}, got {readout!r}")
        # precision: the dtype the model runs in (inputs are cast to it); `train_step` computes
        # the states it fits on in float32 whatever the precision
        series = keras.Input(shape=(None, input_dim), name="series")
        reservoir_layer = Reservoir(**reservoir, return_sequences=True, name="reservoir", dtype=precision)
        features = keras.layers.Concatenate(name="input_and_state", dtype=precision)(
            [series, reservoir_layer(series)]
        )
        readout_layer = (
            RidgeReadout(output_dim, alpha, name="readout", dtype=precision)
            if readout == "ridge"
            else keras.layers.Dense(output_dim, name="readout", dtype=precision)
        )
        super().__init__(series, readout_layer(features), **kwargs)
        self.input_dim, self.output_dim = input_dim, output_dim
        self.reservoir_config, self.alpha, self.readout_type = dict(reservoir), alpha, readout
        self.precision = precision
        self.reservoir, self.readout = reservoir_layer, readout_layer

    def step(self, inputs, state):
        """One step, for serving: (input [B, F], state [B, units]) -> (prediction, state)."""
        inputs, state = keras.ops.cast(inputs, self.precision), keras.ops.cast(state, self.precision)
        state, _ = self.reservoir.cell(inputs, [state])
        return self.readout(keras.ops.concatenate([inputs, state], axis=-1)), state

    def generate(self, warmup, num_steps, exogenous=None):
        """Teacher-forced over `warmup` [B, T, F], then `num_steps` predictions fed back as inputs
        (after `exogenous[:, i]` [B, num_steps, F - outputs] when the inputs have other features).

        Runs as a graph with the exported signature's shapes (traced once): eagerly, the
        reservoir's loop over a long warm-up would run step by step in Python."""
        if tf.inside_function():
            return self._generate(warmup, num_steps, exogenous)
        if getattr(self, "_generate_graphs", None) is None:
            series = tf.TensorSpec([None, None, self.input_dim], tf.float32)
            steps = tf.TensorSpec([], tf.int32)
            other = tf.TensorSpec([None, None, self.input_dim - self.output_dim], tf.float32)
            self._generate_graphs = (
                tf.function(lambda w, n: self._generate(w, n), input_signature=[series, steps]),
                tf.function(self._generate, input_signature=[series, steps, other]),
            )
        args = [tf.convert_to_tensor(warmup, tf.float32), tf.constant(num_steps, tf.int32)]
        if exogenous is None:
            return self._generate_graphs[0](*args)
        return self._generate_graphs[1](*args, tf.convert_to_tensor(exogenous, tf.float32))

    def _generate(self, warmup, num_steps, exogenous=None):
        warmup = keras.ops.cast(warmup, self.precision)
        states = self.reservoir(warmup)
        state = states[:, -1]
        prediction = self.readout(keras.ops.concatenate([warmup[:, -1], state], axis=-1))

        def body(i, prediction, state, out):
            out = out.write(i, prediction)
            inputs = (
                prediction
                if exogenous is None
                else tf.concat([tf.cast(exogenous[:, i], prediction.dtype), prediction], -1)
            )
            prediction, state = self.step(inputs, state)
            return i + 1, prediction, state, out

        _, _, _, out = tf.while_loop(
            lambda i, *_: i < num_steps,
            body,
            (tf.constant(0), prediction, state, tf.TensorArray(prediction.dtype, size=num_steps)),
        )
        return tf.transpose(out.stack(), [1, 0, 2])

    def compile(self, *args, jit_compile="auto", **kwargs):
        """Keras' compile, except that the closed-form ridge fit is never XLA-compiled, whatever
        `jit_compile` says (its boolean masks have data-dependent shapes; Keras' "auto" would
        compile it on a GPU). The gradient readout takes `jit_compile` as given."""
        ridge = self.readout_type == "ridge"
        super().compile(*args, jit_compile=False if ridge else jit_compile, **kwargs)

    def train_step(self, data):
        """No gradients: add the batch to the normal equations, solve, report loss and metrics."""
        if self.readout_type == "gradient":
            return super().train_step(data)
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        # The states are computed in float32 even in a float64 model: for the fit they were as
        # good (Mackey-Glass, 1000 units) at half the cost; running the model (predict,
        # generate) is where float64 pays, as large readout weights amplify rounding in the states.
        x = keras.ops.cast(x, "float32")
        states = self.reservoir.cell.run(
            x, keras.ops.zeros((keras.ops.shape(x)[0], self.reservoir.cell.units))
        )
        features = keras.ops.concatenate([x, states], axis=-1)
        return closed_form_step(
            self, x, y, sample_weight, features, y, keras.ops.cast(features, self.precision)
        )

    def get_config(self):
        return {
            "name": self.name,
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "reservoir": self.reservoir_config,
            "alpha": self.alpha,
            "readout": self.readout_type,
            "precision": self.precision,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class FreshNormalEquations(keras.callbacks.Callback):
    """Every epoch fits the readout on that epoch's data alone (not on repeats of it)."""

    def on_epoch_begin(self, epoch, logs=None):
        if self.model.readout_type == "ridge":
            self.model.readout.reset()
