"""Corpora and tf.data pipelines."""
