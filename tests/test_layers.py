"""Every custom layer of keras_rnn.layers through the shared harness."""

import keras
import numpy as np
import pytest

from keras_rnn.layers import ESNInitializer, Reservoir, ReservoirCell, RidgeReadout
from tests.layer_harness import check_layer

RESERVOIR = dict(
    units=12,
    spectral_radius=0.9,
    leak_rate=0.5,
    bias_scaling=0.2,
    connectivity=0.3,
    seed=3,
    feedback_features=1,
    feedback_scaling=0.5,
)


@pytest.mark.parametrize(
    "name, make, input_shape, expected, wrap",
    [
        (
            "reservoir_cell",
            lambda: ReservoirCell(**RESERVOIR),
            (2, 7, 3),
            (2, 12),
            lambda cell: keras.layers.RNN(cell),
        ),
        ("reservoir", lambda: Reservoir(**RESERVOIR), (2, 7, 3), (2, 7, 12), None),
        (
            "reservoir_last_state",
            lambda: Reservoir(**RESERVOIR, return_sequences=False),
            (2, 7, 3),
            (2, 12),
            None,
        ),
        ("ridge_readout", lambda: RidgeReadout(2, alpha=1e-3), (2, 7, 5), (2, 7, 2), None),
    ],
)
def test_layer_harness(name, make, input_shape, expected, wrap, tmp_path):
    check_layer(make, input_shape, expected, tmp_path, wrap=wrap)


def test_esn_initializer_in_a_trainable_simple_rnn(tmp_path):
    init = ESNInitializer(spectral_radius=1.1, nonzero_per_unit=4, seed=2)
    model = check_layer(
        lambda: keras.layers.SimpleRNN(10, recurrent_initializer=init), (2, 6, 3), (2, 10), tmp_path
    )
    w = model.layers[-1].cell.recurrent_kernel.numpy()
    assert np.max(np.abs(np.linalg.eigvals(w.astype(np.float64)))) == pytest.approx(1.1, rel=1e-5)
    assert (np.count_nonzero(w, axis=0) == 4).all()  # 4 incoming weights per unit
    assert model.layers[-1].cell.recurrent_kernel.trainable
    assert ESNInitializer.from_config(init.get_config()).get_config() == init.get_config()


@pytest.mark.parametrize("score", ["bahdanau", "luong"])
def test_bahdanau_attention_through_the_harness(score, tmp_path):
    """Query = position 0 of the memory; the model outputs the context (the harness takes one input)."""
    from keras_rnn.layers import BahdanauAttention

    check_layer(
        lambda: BahdanauAttention(5, score=score),
        (2, 4, 6),
        (2, 6),
        tmp_path,
        wrap=lambda layer: lambda x: layer(x[:, 0, :], x)[0],
    )


@pytest.mark.parametrize(
    "attention, readout, query",
    [
        ("bahdanau", "concat", "previous"),
        ("cross", "concat", "previous"),
        ("none", "concat", "previous"),
        ("cross", "residual", "previous"),
        ("bahdanau", "residual", "conditional"),
    ],
)
def test_attention_decoder_through_the_harness(attention, readout, query, tmp_path):
    """The translation decoder layer: the harness's one input [B, P, F] serves as the
    encoder memory; target tokens and the encoder summary are derived from it."""
    from keras import ops

    from keras_rnn.layers import AttentionDecoder

    def wrap(decoder):
        def call(x):
            tokens = ops.cast(ops.abs(x[:, :3, 0]) * 6, "int32")  # 3 target positions, ids in [0, 6]
            mask = ops.ones_like(x[:, :, 0], dtype="bool")
            return decoder(tokens, x, mask, [x[:, 0, :]])

        return call

    check_layer(
        lambda: AttentionDecoder(
            7,
            4,
            5,
            6,
            cell="gru",
            attention=attention,
            attention_units=3,
            dropout=0.1,
            readout=readout,
            input_dropout=0.2,
            query=query,
        ),
        (2, 4, 6),
        (2, 3, 7),
        tmp_path,
        wrap=wrap,
    )
