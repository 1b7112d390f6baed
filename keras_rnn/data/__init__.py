"""Corpora and tf.data pipelines."""

from __future__ import annotations

from pathlib import Path

from keras_rnn import UserError


def require_file(path, wanted: str) -> Path:
    """`path` as a Path, or a UserError saying it is a directory or missing, and what to give."""
    path = Path(path)
    if not path.is_file():
        problem = "is a directory" if path.is_dir() else "no such file"
        raise UserError(f"{path}: {problem}; give {wanted}")
    return path


def passes_or_one(examples, count: int, seed: int, shuffle: bool, batches):
    """The `count` examples (a structure of tensors, as for `from_tensor_slices`), each pass
    batched on its own by `batches(dataset) -> dataset` (so a pass is every example once).
    Evaluation (`shuffle` False): one pass in order. Training: endless passes, each in a new
    random order that depends on (seed, pass) alone. `shuffle(reshuffle_each_iteration=True)`
    draws each pass's order from a random-state resource that tf.distribute re-creates, so a
    mirrored run would read other batches than a one-device run; these orders are the same
    under every strategy."""
    import tensorflow as tf  # here: the TF-free LiteRT hosts import this package

    if not shuffle:
        return batches(tf.data.Dataset.from_tensor_slices(examples))

    def one_pass(index):
        seed_pair = tf.stack([tf.constant(seed, tf.int64), index])
        order = tf.random.experimental.stateless_shuffle(tf.range(count, dtype=tf.int64), seed=seed_pair)
        pick = lambda i: tf.nest.map_structure(lambda t: tf.gather(t, i), examples)  # noqa: E731
        return batches(tf.data.Dataset.from_tensor_slices(order).map(pick))

    passes = tf.data.Dataset.counter().flat_map(one_pass)
    return passes.apply(tf.data.experimental.assert_cardinality(tf.data.INFINITE_CARDINALITY))
