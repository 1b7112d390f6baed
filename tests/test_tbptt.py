"""Truncated BPTT (--stateful): batch layout, carried state, and truncated gradients."""

import keras
import numpy as np
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_rnn.callbacks import ResetStates
from keras_rnn.data import text as text_data
from keras_rnn.tasks import charlm

VOCAB, BATCH, T = 9, 3, 5


def test_row_i_of_batch_k_plus_1_continues_row_i_of_batch_k():
    ids = np.arange(200, dtype="int32")
    ds, chunks = text_data.stream_dataset(ids, T, BATCH)
    batches = list(ds.as_numpy_iterator())
    assert len(batches) == chunks > 2
    for (x0, y0), (x1, _) in zip(batches, batches[1:]):
        np.testing.assert_array_equal(x1[:, 0], x0[:, -1] + 1)  # continues the stream
        np.testing.assert_array_equal(y0, x0 + 1)  # targets are the next characters


@settings(max_examples=60, deadline=None)
@given(n=st.integers(20, 400), seq_len=st.integers(1, 9), batch=st.integers(1, 6))
def test_streams_are_contiguous_for_any_text_length(n, seq_len, batch):
    """Row i over all batches, in order, is one unbroken stretch of the text; targets are one ahead."""
    ids = np.arange(n, dtype="int32")
    if n - 1 < batch * seq_len:
        return
    ds, chunks = text_data.stream_dataset(ids, seq_len, batch)
    batches = list(ds.as_numpy_iterator())
    assert len(batches) == chunks >= 1
    rows = np.concatenate([x for x, _ in batches], axis=1)  # [batch, chunks * seq_len]
    targets = np.concatenate([y for _, y in batches], axis=1)
    stream_len = (n - 1) // batch
    for i in range(batch):
        np.testing.assert_array_equal(rows[i], np.arange(i * stream_len, i * stream_len + chunks * seq_len))
    np.testing.assert_array_equal(targets, rows + 1)
    assert (stream_len - chunks * seq_len) < seq_len  # at most one chunk's worth of each stream unused


def _stateful_and_plain(cell="gru"):
    cfg = charlm.Config(cell=cell, units=8, layers=2, embedding_dim=4)
    stateful = charlm.build_model(cfg, VOCAB, batch_size=BATCH, stateful=True)
    plain = charlm.build_model(cfg, VOCAB)
    plain.set_weights(stateful.get_weights())
    return stateful, plain


def test_carried_state_equals_running_the_long_sequence_at_once():
    stateful, plain = _stateful_and_plain("lstm")
    long = np.random.default_rng(0).integers(0, VOCAB, size=(BATCH, 3 * T)).astype("int32")
    chunks = [stateful(long[:, k * T : (k + 1) * T]).numpy() for k in range(3)]
    np.testing.assert_allclose(np.concatenate(chunks, axis=1), plain(long).numpy(), atol=1e-5)
    reset = ResetStates(1)  # and a reset really restarts from zero
    reset.set_model(stateful)
    reset.on_test_begin()
    np.testing.assert_allclose(stateful(long[:, :T]).numpy(), chunks[0], atol=1e-6)


def test_validation_between_chunks_leaves_the_training_state_as_it_was():
    """An epoch of --steps-per-epoch can end mid-pass: validation (from a zero state, on its own
    streams) must not change the state the next training chunk continues from."""
    stateful, plain = _stateful_and_plain("gru")
    long = np.random.default_rng(2).integers(0, VOCAB, size=(BATCH, 2 * T)).astype("int32")
    callback = ResetStates(100)
    callback.set_model(stateful)
    stateful(long[:, :T])
    callback.on_test_begin()
    validation = stateful(long[:, ::-1][:, :T]).numpy()  # the validation pass starts from zero
    np.testing.assert_allclose(validation, plain(long[:, ::-1][:, :T]).numpy(), atol=1e-5)
    callback.on_test_end()
    np.testing.assert_allclose(stateful(long[:, T:]).numpy(), plain(long).numpy()[:, T:], atol=1e-5)


def _embedding_grad_rows(model, inputs, loss_slice):
    with tf.GradientTape() as tape:
        out = [model(x) for x in inputs][-1] if isinstance(inputs, list) else model(inputs)
        loss = tf.reduce_sum(out[:, loss_slice])
    grad = tape.gradient(loss, model.get_layer("embedding").embeddings)
    return tf.convert_to_tensor(grad).numpy()


def test_no_gradient_flows_into_earlier_chunks():
    """Chunk 1 uses tokens {1,2,3}, chunk 2 tokens {4,5,6}: with the carried state the
    loss of chunk 2 gives those earlier tokens' embeddings no gradient; over the
    full sequence (untruncated BPTT) it does."""
    stateful, plain = _stateful_and_plain()
    rng = np.random.default_rng(1)
    chunk1 = rng.integers(1, 4, size=(BATCH, T)).astype("int32")
    chunk2 = rng.integers(4, 7, size=(BATCH, T)).astype("int32")
    truncated = _embedding_grad_rows(stateful, [chunk1, chunk2], slice(None))
    full = _embedding_grad_rows(plain, np.concatenate([chunk1, chunk2], 1), slice(T, None))
    assert np.abs(truncated[1:4]).max() == 0.0
    assert np.abs(truncated[4:7]).max() > 0
    assert np.abs(full[1:4]).max() > 1e-6


def test_stateful_training_runs_through_fit(tmp_path, corpus_file):
    from keras_rnn import runs, training

    cfg = charlm.Config(
        stateful=True,
        text_file=str(corpus_file),
        units=16,
        layers=1,
        seq_len=16,
        batch_size=4,
        epochs=2,
        steps_per_epoch=10,
        sample_length=10,
    )
    run_dir = runs.prepare_run_dir("charlm", cfg, str(tmp_path / "run"))
    metrics = training.train(charlm.TASK, cfg, run_dir)
    assert metrics["epochs_run"] == 2 and np.isfinite(metrics["best_val_loss"])
    assert keras.saving.load_model(run_dir / "model.keras", compile=False).get_layer("rnn_0").stateful
