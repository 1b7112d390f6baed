"""The plain-TF step (used by every export) against the Keras layers it copies."""

import numpy as np
import pytest
import tensorflow as tf

from keras_rnn.tasks import charlm

VOCAB = 11
CASES = [
    dict(cell="rnn", layers=2, embedding_dim=8),
    dict(cell="lstm", layers=2, embedding_dim=0),  # one-hot input
    dict(cell="gru", layers=2, embedding_dim=8),
    dict(cell="gru", layers=1, embedding_dim=8, gru_reset_after=False),  # the slides' GRU
]


def _models(case):
    cfg = charlm.Config(units=16, **case)
    model = charlm.build_model(cfg, VOCAB)
    # non-trivial weights, biases included
    rng = np.random.default_rng(0)
    model.set_weights(
        [
            rng.normal(0, 0.4, w.shape).astype("float32") if w.ndim and w.shape != (VOCAB, VOCAB) else w
            for w in model.get_weights()
        ]
    )
    return cfg, model


@pytest.mark.parametrize(
    "case", CASES, ids=lambda c: f"{c['cell']}-{c['layers']}-{c.get('gru_reset_after', '')}"
)
def test_step_forms_match_the_full_sequence_model(case):
    cfg, model = _models(case)
    tokens = np.random.default_rng(1).integers(0, VOCAB, size=(3, 12)).astype("int32")
    full = model(tokens).numpy()

    step_model = charlm.build_model(cfg, VOCAB, step=True)
    step_model.set_weights(model.get_weights())
    stack = charlm.recurrent_stack(model, cfg)
    keras_state = stack_state = stack.zero_state(3)
    for t in range(tokens.shape[1]):
        keras_logits, keras_state = step_model([tf.constant(tokens[:, t : t + 1]), keras_state])
        stack_logits, stack_state = stack.step(tf.constant(tokens[:, t]), stack_state)
        np.testing.assert_allclose(keras_logits, full[:, t], atol=1e-5)
        np.testing.assert_allclose(stack_logits, full[:, t], atol=1e-5)
    np.testing.assert_allclose(stack_state, keras_state, atol=1e-5)


def test_assign_from_refreshes_weights():
    cfg, model = _models(CASES[0])
    stack = charlm.recurrent_stack(model, cfg)
    model.get_layer("logits").bias.assign(np.full([VOCAB], 3.0, "float32"))
    stack.assign_from(model)
    np.testing.assert_array_equal(stack.output_bias.numpy(), np.full([VOCAB], 3.0))
