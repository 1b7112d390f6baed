"""Beam search's early stop is exact: a toy decoder (random logits, by row, step and previous
token) searched with and without the early stop, and against exhaustive search."""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from keras_rnn import decoding

START, END = 1, 2  # id 0 is padding
PENALTIES = [0.0, 0.6, 1.0, 2.0, -0.5]  # the served signature does not refuse a negative one


def random_logits(seed, batch, max_length, vocab, scale=2.0, end_bias=1.0):
    """[B, T, V(previous token), V] logits (by row, step, previous token); with `end_bias` the end
    token a little likelier, so beams end at many lengths."""
    logits = np.random.default_rng(seed).normal(size=(batch, max_length, vocab, vocab)) * scale
    logits[..., END] += end_bias
    return logits.astype(np.float32)


def toy_search(early_stop=True):
    """Beam search over the toy decoder (its state is the step, its constants the row and a
    memory), traced once, batch and beam width unknown as in the served signatures."""
    scalar = tf.TensorSpec([], tf.int32)
    spec = [tf.TensorSpec([None, None, None, None]), scalar, scalar, tf.TensorSpec([], tf.float32)]

    @tf.function(input_signature=spec)
    def search(logits, max_length, beam_width, length_penalty):
        batch = tf.shape(logits)[0]

        def step_fn(tokens, state, constants):
            index = tf.stack([constants["row"], state["t"], tokens], axis=1)
            return tf.gather_nd(logits, index), {"t": state["t"] + 1}, constants["memory"]

        constants = {"row": tf.range(batch), "memory": tf.random.stateless_uniform([batch, 3], [1, 2])}
        state, start = {"t": tf.zeros([batch], tf.int32)}, tf.fill([batch], START)
        return decoding.beam_search(
            step_fn, state, constants, start, END, max_length, beam_width, length_penalty, early_stop
        )

    return search


search, search_to_max_length = toy_search(), toy_search(early_stop=False)


def test_early_stop_changes_no_answer():
    """Same tokens, scores, lengths and attention as the search run to max_length, for every
    penalty; and the early stop does stop early (else this test would prove nothing)."""
    max_length, steps_saved = 10, 0
    for seed, penalty, beam_width in itertools.product(range(8), PENALTIES, [2, 4]):
        logits = tf.constant(random_logits(seed, 4, max_length, vocab=6))
        args = (logits, tf.constant(max_length), tf.constant(beam_width), tf.constant(penalty))
        early, full = search(*args), search_to_max_length(*args)
        steps = early["tokens"].shape[1]
        steps_saved += max_length - steps
        where = f"seed {seed}, length_penalty {penalty}, beam_width {beam_width}"
        np.testing.assert_array_equal(early["tokens"], full["tokens"][:, :steps], err_msg=where)
        assert not full["tokens"][:, steps:].numpy().any(), where  # only padding after the early stop
        np.testing.assert_array_equal(early["scores"], full["scores"], err_msg=where)
        np.testing.assert_array_equal(early["lengths"], full["lengths"], err_msg=where)
        np.testing.assert_array_equal(early["attention"], full["attention"][:, :steps], err_msg=where)
    assert steps_saved > 8 * len(PENALTIES) * 2 * max_length // 4  # 360 of the 800 steps are skipped


def exhaustive(logits, max_length, penalty):
    """Every finished output of every row, scored as beam search does: each row's best
    (normalised score, score, tokens)."""
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))  # log_softmax over the whole vocabulary
    words = [w for w in range(1, logits.shape[-1]) if w != END]
    best = []
    for row in logp:
        found = []
        for n in range(max_length):  # n tokens, then the end token
            for words_n in itertools.product(words, repeat=n):
                out = (*words_n, END)
                score = sum(row[t, prev, w] for t, (prev, w) in enumerate(zip((START, *out), out)))
                found.append((score / ((5 + n) / 6) ** penalty, score, out))
        found.sort(reverse=True)
        assert found[0][0] - found[1][0] > 1e-4  # no tie, so one right answer
        best.append(found[0])
    return best


@pytest.mark.parametrize("penalty", PENALTIES)
def test_a_beam_wide_enough_finds_the_exhaustive_search_answer(penalty):
    """Vocabulary 5 (padding, end, three words), max_length 5: a beam of 5 ** 5 keeps every prefix.
    (Flat logits, so long outputs compete: the old rule, stop once the top beam by summed
    log-probability has ended, misses the answer here with length_penalty 2.)"""
    max_length, vocab = 5, 5
    for seed in range(4):
        logits = random_logits(100 + seed, 3, max_length, vocab, scale=1.0, end_bias=0.0)
        found = search(
            tf.constant(logits), tf.constant(max_length), tf.constant(vocab**max_length), tf.constant(penalty)
        )
        for row, (_, score, out) in enumerate(exhaustive(logits, max_length, penalty)):
            tokens = found["tokens"][row].numpy().tolist()
            assert tokens == list(out) + [0] * (len(tokens) - len(out)), (seed, row)
            assert found["scores"][row].numpy() == pytest.approx(score, abs=1e-4)
            assert found["lengths"][row].numpy() == len(out) - 1


def test_a_negative_penalty_stops_only_once_the_best_finished_beam_cannot_be_pushed_out():
    """Penalty -1 favours short outputs; beam width 2; a hand-built decoder (log-probabilities
    below; padding takes the rest of the mass, every other token -6):
        step 0: <end> -3.0 (F, finished: normalised -3 / (5/6)^-1 = -2.5), a -2.2
        step 1: a a -0.05 (-2.25: at best -2.25 / (7/6)^-1 = -2.625 normalised, below F)
        step 2: a a b -0.7, a a c -0.72 (both above F's -3.0: F drops out of the beam)
        step 3: a a b <end> -0.01, a a c <end> -0.01 (normalised -2.96 / (8/6)^-1 = -3.95)
    Running to max_length answers "a a b <end>". A stop once no live beam can beat F (step 2)
    would answer F; one that divides by the penalty at max_length, not at the current length
    (right only for penalties >= 0), at step 1."""
    a, b, c = 1, 3, 4
    logp = np.full((1, 6, 5, 5), -6.0)
    logp[0, 0, START, [a, END]] = -2.2, -3.0
    logp[0, 1, a, a] = -0.05
    logp[0, 2, a, [b, c]] = -0.7, -0.72
    logp[0, 3, [b, c], END] = -0.01
    logp[..., 0] = np.log1p(-np.exp(logp[..., 1:]).sum(-1))  # padding: the rest, so these are exact
    args = (tf.constant(logp, tf.float32), tf.constant(6), tf.constant(2), tf.constant(-1.0))
    for out in (search(*args), search_to_max_length(*args)):
        assert out["tokens"].numpy()[0, :4].tolist() == [a, a, b, END]
        assert out["scores"].numpy()[0] == pytest.approx(-2.96, abs=1e-5)
