"""Layers that turn a whole sequence into one vector (one label per sequence: `--task classify`),
and the recurrent stack the sequence labellers share (`--task classify`, `--task tag`).

- `StepMask`: (sequences [B, T, ...], lengths [B]) -> the steps that are real [B, T] (bool): the
  mask recurrent layers and the pooling take, from the lengths a request sends (zero-padded
  series may hold real all-zero frames, so the mask does not come from the values);
- `ReverseSteps`: sequences [B, T, D] (and that mask) -> each sequence reversed within its length,
  the padding left at the end (a reservoir reads it backwards, still causal over the real steps);
- `TimeWarp`: series [B, T, D] (and that mask) -> in training only, each sequence read at
  randomly warped times within its length (an augmentation: speaking rate varies);
- `SequencePooling`: states [B, T, D] (and that mask) -> [B, D'] by the lectures' ways to read
  a many-to-one network: the last state, the mean over the steps, attention pooling (a learned
  score per step, softmax over the real steps), or the states at `points` evenly spaced steps
  (concatenated: [B, points * D]; order kept at a fixed size, the reservoir classifier's read-out);
- `recurrent_stack`: stacked GRU / LSTM / Elman / lecture-cell layers, each returning every
  step's state, bidirectional or not, masked by the lengths.
"""

from __future__ import annotations

import keras
from keras import ops

from keras_rnn.config import option
from keras_rnn.layers.cells import CELL_ALIASES, CELL_ALIASES_HELP, LECTURE_CELLS, lecture_cell
from keras_rnn.layers.readout import RidgeReadout, closed_form_step
from keras_rnn.layers.reservoir import Reservoir

POOLINGS = ("last", "mean", "attention", "points", "mean+points")
RNN_LAYERS = {"gru": keras.layers.GRU, "lstm": keras.layers.LSTM, "rnn": keras.layers.SimpleRNN}


def cell_option():
    """The `--cell` option of the sequence labellers (a renamed lecture cell read by its old name too)."""
    return option(
        "gru",
        "recurrent cell: gru, lstm, rnn (Elman) or a lecture cell; " + CELL_ALIASES_HELP,
        choices=[*RNN_LAYERS, *LECTURE_CELLS, *CELL_ALIASES],
        legacy=CELL_ALIASES,
    )


def recurrent_stack(x, mask, cell: str, units: int, layers: int, bidirectional: bool, suffix: str = ""):
    """Every step's state [B, T, units (x 2 bidirectional)] of `layers` stacked recurrent layers
    (named rnn_i, or bidirectional_i around them, + suffix) over x [B, T, D], reading the steps of
    `mask`."""
    for i in range(layers):
        if cell in LECTURE_CELLS:
            rnn = keras.layers.RNN(lecture_cell(cell, units), return_sequences=True, name=f"rnn_{i}{suffix}")
        else:
            rnn = RNN_LAYERS[cell](units, return_sequences=True, name=f"rnn_{i}{suffix}")
        if bidirectional:
            rnn = keras.layers.Bidirectional(rnn, name=f"bidirectional_{i}{suffix}")
        x = rnn(x, mask=mask)
    return x


@keras.saving.register_keras_serializable(package="keras_rnn")
class StepMask(keras.layers.Layer):
    """(sequences [B, T, ...], lengths [B] int) -> mask [B, T]: step t is real when t < length."""

    def call(self, inputs):
        sequences, lengths = inputs
        steps = ops.arange(ops.shape(sequences)[1], dtype="int32")
        return steps[None, :] < ops.cast(lengths, "int32")[:, None]

    def compute_output_spec(self, inputs):
        sequences, _ = inputs
        return keras.KerasTensor(sequences.shape[:2], "bool")


@keras.saving.register_keras_serializable(package="keras_rnn")
class ReverseSteps(keras.layers.Layer):
    """Sequences [B, T, D] -> step t of the output is step (length - 1 - t) of the input for the
    real steps (where `mask` is true; all steps without a mask); padded steps stay where they are."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        steps = ops.arange(ops.shape(inputs)[1], dtype="int32")
        if mask is None:
            lengths = ops.full((ops.shape(inputs)[0],), ops.shape(inputs)[1], dtype="int32")
        else:
            lengths = ops.sum(ops.cast(mask, "int32"), axis=1)
        index = ops.where(
            steps[None, :] < lengths[:, None], lengths[:, None] - 1 - steps[None, :], steps[None, :]
        )
        return ops.take_along_axis(inputs, index[..., None], axis=1)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="keras_rnn")
class TimeWarp(keras.layers.Layer):
    """Training-time augmentation of series [B, T, D]: each sequence is read at warped times within
    its own length L (from `mask`; T without one): step t reads position s + (e - s) (u + a u (1 - u))
    with u = t / (L-1), a drawn uniformly in [-strength, strength] per sequence (monotonic for
    strength < 1), interpolated linearly between steps. A speaker talks faster at the start and
    slower at the end, or the reverse. The ends s = 0, e = L-1 stay, or with `crop` each moves
    inwards by up to crop (L-1): a random part of the sequence, read over its whole length. The
    padding stays as it is. The identity outside training, so exports never carry it."""

    def __init__(self, strength: float = 0.3, seed: int | None = None, crop: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.strength, self.seed, self.crop = strength, seed, crop
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def call(self, inputs, mask=None, training=None):
        if not training or not (self.strength or self.crop):
            return inputs
        steps = ops.arange(ops.shape(inputs)[1], dtype="float32")[None, :]
        real = ops.ones_like(inputs[..., 0], dtype="bool") if mask is None else ops.cast(mask, "bool")
        last = ops.maximum(ops.sum(ops.cast(real, "float32"), axis=1, keepdims=True) - 1, 0)
        a = keras.random.uniform(ops.shape(last), -self.strength, self.strength, seed=self.seed_generator)
        start, end = 0.0, last
        if self.crop:
            start = last * keras.random.uniform(ops.shape(last), 0, self.crop, seed=self.seed_generator)
            end = last * (1 - keras.random.uniform(ops.shape(last), 0, self.crop, seed=self.seed_generator))
        u = ops.minimum(steps / ops.maximum(last, 1), 1.0)
        position = ops.clip(start + (end - start) * (u + a * u * (1 - u)), 0, last)
        low = ops.floor(position)
        low_index = ops.cast(low, "int32")
        high_index = ops.minimum(low_index + 1, ops.cast(last, "int32"))
        weight = ops.cast(position - low, inputs.dtype)[..., None]
        below = ops.take_along_axis(inputs, low_index[..., None], axis=1)
        above = ops.take_along_axis(inputs, high_index[..., None], axis=1)
        return ops.where(real[..., None], below * (1 - weight) + above * weight, inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "strength": self.strength, "seed": self.seed, "crop": self.crop}


@keras.saving.register_keras_serializable(package="keras_rnn")
class SequencePooling(keras.layers.Layer):
    """States [B, T, D] -> one vector per sequence; only the steps where `mask` is true count
    (all steps without a mask). A sequence of length 0 pools to zeros."""

    def __init__(self, mode: str = "mean", points: int = 5, **kwargs):
        super().__init__(**kwargs)
        if mode not in POOLINGS:
            raise ValueError(f"mode must be one of {POOLINGS}, got {mode!r}")
        if points < 1:
            raise ValueError(f"points must be at least 1, got {points}")
        self.mode, self.points = mode, points
        self.supports_masking = True

    def build(self, input_shape):
        if self.mode == "attention":
            self.score = keras.layers.Dense(1, name="score")
            self.score.build(input_shape)
        self.built = True

    def call(self, inputs, mask=None):
        batch, steps = ops.shape(inputs)[0], ops.shape(inputs)[1]
        if mask is None:
            mask = ops.ones((batch, steps), dtype="bool")
        real = ops.cast(mask, inputs.dtype)
        lengths = ops.sum(ops.cast(mask, "int32"), axis=1)
        if self.mode == "mean+points":
            return ops.concatenate([self._mean(inputs, real), self._points(inputs, lengths)], axis=-1)
        if self.mode == "mean":
            return self._mean(inputs, real)
        if self.mode == "attention":
            scores = ops.squeeze(self.score(inputs), -1)
            scores = ops.where(mask, scores, ops.full_like(scores, -1e9))
            weights = ops.softmax(scores, axis=-1) * real  # a length-0 sequence: all weights 0
            return ops.sum(inputs * weights[..., None], axis=1)
        if self.mode == "last":
            return self._at(inputs, ops.maximum(lengths - 1, 0)[:, None], lengths)[:, 0]
        return self._points(inputs, lengths)

    @staticmethod
    def _mean(inputs, real):
        total = ops.sum(inputs * real[..., None], axis=1)
        return total / ops.maximum(ops.sum(real, axis=1), 1.0)[:, None]

    def _points(self, inputs, lengths):
        """The states at steps round(p (L - 1) / (P - 1)), p = 0 .. P-1 (one point: the last step)."""
        fractions = ops.linspace(0.0, 1.0, self.points) if self.points > 1 else ops.ones((1,))
        last = ops.cast(ops.maximum(lengths - 1, 0), "float32")
        index = ops.cast(ops.round(last[:, None] * fractions[None, :]), "int32")
        picked = self._at(inputs, index, lengths)
        return ops.reshape(picked, (ops.shape(inputs)[0], self.points * inputs.shape[-1]))

    @staticmethod
    def _at(inputs, index, lengths):
        """inputs[b, index[b, k]] -> [B, K, D]; zeros for sequences of length 0."""
        picked = ops.take_along_axis(inputs, index[..., None], axis=1)
        return picked * ops.cast(lengths > 0, inputs.dtype)[:, None, None]

    def compute_output_shape(self, input_shape):
        width = input_shape[-1] * {"points": self.points, "mean+points": self.points + 1}.get(self.mode, 1)
        return (input_shape[0], width)

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "points": self.points}


@keras.saving.register_keras_serializable(package="keras_rnn")
class ESNClassifier(keras.Model):
    """The echo state network as a classifier: (series [B, T, F], lengths [B]) -> class scores
    [B, C]. Standardise each feature (statistics of the training split, kept in the model), run a
    fixed random leaky reservoir over the series, pool its states over the real steps (their mean
    and the states at `points` evenly spaced steps), and read the class out linearly. Only the
    readout is learned, in closed form: `train_step` adds each batch to the ridge regression's
    normal equations towards one-hot targets and solves (`RidgeReadout`), inside `model.fit`.

    The reservoir runs over the padding too (it is causal: the states of the real steps do not
    see it), with `ReservoirCell.run`'s fast loop; only the pooling looks at the mask."""

    def __init__(
        self,
        features: int,
        classes: int,
        reservoir: dict,
        alpha: float = 1e-6,
        points: int = 5,
        mean=None,
        variance=None,
        committee: int = 1,
        both_ways: bool = False,
        **kwargs,
    ):

        series = keras.Input(shape=(None, features), name="series")
        lengths = keras.Input(shape=(), dtype="int32", name="lengths")
        standardize = keras.layers.Normalization(axis=-1, mean=mean, variance=variance, name="standardize")
        mask = StepMask(name="step_mask")([series, lengths])
        inputs = [standardize(series)]
        if both_ways:
            inputs.append(ReverseSteps(name="reversed")(inputs[0], mask=mask))
        parts = []
        for k in range(committee):  # member k: its own random reservoir, seed * committee + k
            seed = reservoir.get("seed", 0) * committee + k
            suffix = f"_{k}" if k else ""
            for way, x in zip(("", "_reversed"), inputs):
                states = Reservoir(
                    **{**reservoir, "seed": seed}, return_sequences=True, name=f"reservoir{way}{suffix}"
                )(x)
                pooling = SequencePooling("mean+points", points, name=f"state_pooling{way}{suffix}")
                parts.append(pooling(states, mask=mask))
        pooled = keras.layers.Concatenate(name="pooled")(parts)
        readout = RidgeReadout(classes, alpha, name="readout")
        super().__init__([series, lengths], readout(pooled), **kwargs)
        self.features = keras.Model([series, lengths], pooled, name="pooled_states")
        self.readout, self.classes = readout, classes
        self.init_args = {
            "features": features,
            "classes": classes,
            "reservoir": dict(reservoir),
            "alpha": alpha,
            "points": points,
            "mean": mean,
            "variance": variance,
            "committee": committee,
            "both_ways": both_ways,
        }

    def compile(self, *args, jit_compile="auto", **kwargs):
        """Keras' compile; the closed-form fit is never XLA-compiled (as `EchoStateNetwork`'s)."""
        super().compile(*args, jit_compile=False, **kwargs)

    def train_step(self, data):
        """No gradients: the batch's pooled states join the normal equations; solve; report."""
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        pooled = self.features(x)
        targets = ops.one_hot(ops.cast(ops.reshape(y, (-1,)), "int32"), self.classes)
        return closed_form_step(self, x, y, sample_weight, pooled, targets)

    def get_config(self):
        return {"name": self.name, **self.init_args}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
