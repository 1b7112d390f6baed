"""Sampling from logits, in pure TensorFlow so it runs inside exported graphs."""

from __future__ import annotations

import tensorflow as tf


def filter_logits(logits, temperature, top_k, banned=None):
    """Scale by 1/temperature, keep the top_k largest (0 = all), forbid `banned` ids.

    `banned` is a [V] bool mask (e.g. the unknown-character id, never worth generating).
    """
    logits = logits / temperature
    if banned is not None:
        logits = tf.where(banned, tf.constant(-1e9, logits.dtype), logits)
    vocab = tf.shape(logits)[-1]
    k = tf.where(top_k > 0, tf.minimum(top_k, vocab), vocab)
    kth_largest = tf.math.top_k(logits, k=k).values[:, -1:]
    return tf.where(logits < kth_largest, tf.constant(-1e9, logits.dtype), logits)


def sample(logits, temperature, top_k, seed, step, banned=None):
    """Draw one id per row; deterministic for a given (seed, step). top_k=1 is greedy."""
    filtered = filter_logits(logits, temperature, top_k, banned)
    ids = tf.random.stateless_categorical(filtered, 1, seed=tf.stack([seed, step]), dtype=tf.int32)
    greedy = tf.argmax(filtered, axis=-1, output_type=tf.int32)
    return tf.where(top_k == 1, greedy, ids[:, 0])
