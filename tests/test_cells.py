"""The lectures' cells (keras_rnn.layers.cells): each against a NumPy step of its equations,
the slides' LSTM and GRU against Keras' own layers, and all through the layer harness."""

import keras
import numpy as np
import pytest

from keras_rnn.layers import (
    CoupledLSTMCell,
    MultiplicativeCell,
    MUTCell,
    PeepholeLSTMCell,
    SlidesGRUCell,
    SlidesLSTMCell,
)
from tests.layer_harness import check_layer

UNITS, FEATURES = 6, 4


def sigmoid(v):
    return 1 / (1 + np.exp(-v))


def w(cell, name):
    return getattr(cell, name).numpy().astype(np.float64)


# NumPy steps of the equations in keras_rnn/layers/cells.py: (cell, x [B, F], states) -> states
def lstm_step(cell, x, states):
    h, c = states
    i, f, o, g = np.split(x @ w(cell, "kernel") + h @ w(cell, "recurrent_kernel") + w(cell, "bias"), 4, -1)
    c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    return [sigmoid(o) * np.tanh(c), c]


def gru_step(cell, x, states):
    (h,) = states
    k, u, b = w(cell, "kernel"), w(cell, "recurrent_kernel"), w(cell, "bias")
    n = cell.units
    r = sigmoid(x @ k[:, :n] + h @ u[:, :n] + b[:n])
    z = sigmoid(x @ k[:, n : 2 * n] + h @ u[:, n : 2 * n] + b[n : 2 * n])
    candidate = np.tanh(x @ k[:, 2 * n :] + (r * h) @ u[:, 2 * n :] + b[2 * n :])
    return [(1 - z) * h + z * candidate if cell.update == "new" else z * h + (1 - z) * candidate]


def peephole_step(cell, x, states):
    h, c = states
    p = w(cell, "peepholes")
    i, f, o, g = np.split(x @ w(cell, "kernel") + h @ w(cell, "recurrent_kernel") + w(cell, "bias"), 4, -1)
    c = sigmoid(f + p[1] * c) * c + sigmoid(i + p[0] * c) * np.tanh(g)
    return [sigmoid(o + p[2] * c) * np.tanh(c), c]


def coupled_step(cell, x, states):
    h, c = states
    f, o, g = np.split(x @ w(cell, "kernel") + h @ w(cell, "recurrent_kernel") + w(cell, "bias"), 3, -1)
    c = sigmoid(f) * c + (1 - sigmoid(f)) * np.tanh(g)
    return [sigmoid(o) * np.tanh(c), c]


def mut_step(cell, x, states):
    (h,) = states
    v = {name: w(cell, name) for name in ("w_xz", "w_hr", "w_hh", "b_z", "b_r", "b_h")}
    if cell.variant == 1:
        z = sigmoid(x @ v["w_xz"] + v["b_z"])
        r = sigmoid(x @ w(cell, "w_xr") + h @ v["w_hr"] + v["b_r"])
        candidate = np.tanh((r * h) @ v["w_hh"] + np.tanh(x) + v["b_h"])
    else:
        recurrent_z = h if cell.variant == 2 else np.tanh(h)
        z = sigmoid(x @ v["w_xz"] + recurrent_z @ w(cell, "w_hz") + v["b_z"])
        r_input = x if cell.variant == 2 else x @ w(cell, "w_xr")
        r = sigmoid(r_input + h @ v["w_hr"] + v["b_r"])
        candidate = np.tanh((r * h) @ v["w_hh"] + x @ w(cell, "w_xh") + v["b_h"])
    return [candidate * z + h * (1 - z)]


def multiplicative_step(cell, x, states):
    (h,) = states
    factors = (x @ w(cell, "w_fx")) * (h @ w(cell, "w_fh"))
    return [np.tanh(factors @ w(cell, "w_hf") + x @ w(cell, "w_hx") + w(cell, "b"))]


CELLS = {
    "slides_lstm": (lambda: SlidesLSTMCell(UNITS), lstm_step, FEATURES),
    "slides_gru_new": (lambda: SlidesGRUCell(UNITS, update="new"), gru_step, FEATURES),
    "slides_gru_keep": (lambda: SlidesGRUCell(UNITS, update="keep"), gru_step, FEATURES),
    "peephole_lstm": (lambda: PeepholeLSTMCell(UNITS), peephole_step, FEATURES),
    "coupled_lstm": (lambda: CoupledLSTMCell(UNITS), coupled_step, FEATURES),
    "mut1": (lambda: MUTCell(UNITS, variant=1), mut_step, UNITS),  # input size = units (tanh(x) is added)
    "mut2": (lambda: MUTCell(UNITS, variant=2), mut_step, UNITS),  # input size = units (x is added)
    "mut3": (lambda: MUTCell(UNITS, variant=3), mut_step, FEATURES),
    "multiplicative": (lambda: MultiplicativeCell(UNITS, factors=5), multiplicative_step, FEATURES),
}


def randomized(cell, features: int, seed: int = 0):
    """The cell built, with every weight random (zero-initialised peepholes and biases too)."""
    layer = keras.layers.RNN(cell, return_sequences=True)
    layer.build((None, None, features))
    rng = np.random.default_rng(seed)
    for variable in cell.weights:
        variable.assign(rng.normal(scale=0.5, size=variable.shape).astype(np.float32))
    return layer


@pytest.mark.parametrize("name", CELLS)
def test_cell_equals_a_numpy_step_of_its_equations(name):
    make, step, features = CELLS[name]
    cell = make()
    layer = randomized(cell, features)
    x = np.random.default_rng(1).normal(size=(3, 7, features)).astype(np.float32)
    got = layer(x).numpy()
    sizes = cell.state_size if isinstance(cell.state_size, list) else [cell.state_size]
    states = [np.zeros((3, size)) for size in sizes]
    for t in range(x.shape[1]):
        states = step(cell, x[:, t].astype(np.float64), states)
        np.testing.assert_allclose(got[:, t], states[0], atol=2e-5)


def test_slides_lstm_is_keras_lstm_with_the_gates_reordered():
    x = np.random.default_rng(2).normal(size=(3, 9, FEATURES)).astype(np.float32)
    reference = keras.layers.LSTM(UNITS, return_sequences=True)
    reference.build((None, None, FEATURES))
    rng = np.random.default_rng(3)
    for variable in reference.weights:
        variable.assign(rng.normal(scale=0.5, size=variable.shape).astype(np.float32))
    slides = keras.layers.RNN(SlidesLSTMCell(UNITS), return_sequences=True)
    slides.build((None, None, FEATURES))

    def ifog(m):  # Keras keeps i, f, g (the candidate), o
        i, f, g, o = np.split(m, 4, axis=-1)
        return np.concatenate([i, f, o, g], axis=-1)

    slides.set_weights([ifog(v) for v in reference.get_weights()])
    np.testing.assert_allclose(slides(x).numpy(), reference(x).numpy(), atol=1e-5)


def test_slides_gru_keep_is_keras_gru_without_reset_after():
    x = np.random.default_rng(4).normal(size=(3, 9, FEATURES)).astype(np.float32)
    reference = keras.layers.GRU(UNITS, return_sequences=True, reset_after=False)
    reference.build((None, None, FEATURES))
    rng = np.random.default_rng(5)
    for variable in reference.weights:
        variable.assign(rng.normal(scale=0.5, size=variable.shape).astype(np.float32))
    slides = keras.layers.RNN(SlidesGRUCell(UNITS, update="keep"), return_sequences=True)
    slides.build((None, None, FEATURES))

    def rzh(m):  # Keras keeps z, r, h
        z, r, h = np.split(m, 3, axis=-1)
        return np.concatenate([r, z, h], axis=-1)

    slides.set_weights([rzh(v) for v in reference.get_weights()])
    np.testing.assert_allclose(slides(x).numpy(), reference(x).numpy(), atol=1e-5)


@pytest.mark.parametrize("variant, added", [(1, "tanh\\(x\\)"), (2, "adds x")])
def test_mut1_and_mut2_need_input_size_equal_to_units(variant, added):
    with pytest.raises(ValueError, match=f"{added} to a vector of the hidden size"):
        keras.layers.RNN(MUTCell(UNITS, variant=variant)).build((None, None, UNITS + 1))


def test_factored_multiplicative_cell_has_the_factored_parameter_count():
    cell = MultiplicativeCell(1500, factors=100)
    keras.layers.RNN(cell).build((None, None, 86))
    assert cell.count_params() == (86 + 2 * 1500) * 100 + 86 * 1500 + 1500  # not 86 x 1500 x 1500
    with pytest.raises(ValueError, match="factors must be >= 1"):
        MultiplicativeCell(4, factors=0)


@pytest.mark.parametrize("name", CELLS)
def test_cell_through_the_layer_harness(name, tmp_path):
    make, _, features = CELLS[name]
    check_layer(make, (2, 5, features), (2, UNITS), tmp_path, wrap=keras.layers.RNN)
