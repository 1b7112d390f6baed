"""Metrics every task reports, in one place: Keras metrics used in training
(masked token accuracy, bits per character) and the scores computed on decoded
outputs (exact match, BLEU and chrF with sacrebleu, BLEU-1..4, NRMSE)."""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

PAD_ID = 0  # padding id of every token vocabulary (keras_rnn.data.tokens)


@keras.saving.register_keras_serializable(package="keras_rnn")
def masked_accuracy(y_true, y_pred):
    """Token accuracy over real target tokens (padding excluded)."""
    y_true = ops.cast(y_true, "int32")
    mask = ops.cast(ops.not_equal(y_true, PAD_ID), "float32")
    correct = ops.cast(ops.equal(ops.cast(ops.argmax(y_pred, axis=-1), "int32"), y_true), "float32")
    return ops.sum(correct * mask) / ops.maximum(ops.sum(mask), 1.0)


@keras.saving.register_keras_serializable(package="keras_rnn")
def bits_per_char(y_true, y_pred):
    """Cross-entropy in bits (nats / ln 2), the unit char-LM papers report."""
    return keras.losses.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True) / math.log(2)


@keras.saving.register_keras_serializable(package="keras_rnn")
class SmoothedCrossentropy(keras.losses.Loss):
    """Cross-entropy of logits against integer targets with label smoothing (Szegedy et al. 2016):
    the target distribution puts 1 - smoothing on the right token and spreads smoothing over the
    whole vocabulary; averaged over real tokens (padding, `ignore_class`, excluded; None: every
    target counts, as for class labels). Keras' sparse loss has no smoothing; smoothing 0 is its
    `ignore_class` cross-entropy."""

    def __init__(self, smoothing: float = 0.1, name="smoothed_crossentropy", ignore_class=PAD_ID, **kwargs):
        super().__init__(name=name, **kwargs)
        self.smoothing, self.ignore_class = smoothing, ignore_class

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "int32")
        log_probs = ops.log_softmax(ops.cast(y_pred, "float32"), axis=-1)
        nll = -ops.squeeze(ops.take_along_axis(log_probs, y_true[..., None], axis=-1), -1)
        loss = (1.0 - self.smoothing) * nll - self.smoothing * ops.mean(log_probs, axis=-1)
        if self.ignore_class is None:
            return loss
        mask = ops.cast(ops.not_equal(y_true, self.ignore_class), "float32")
        # Per token, weighted so that Keras' mean over all tokens is the mean over the real ones;
        # a scalar here would skip Keras' scaling of each replica's loss under tf.distribute.
        tokens = ops.cast(ops.size(mask), "float32")
        return loss * mask * (tokens / ops.maximum(ops.sum(mask), 1.0))

    def get_config(self):
        return {**super().get_config(), "smoothing": self.smoothing, "ignore_class": self.ignore_class}


def token_crossentropy(smoothing: float = 0.0) -> keras.losses.Loss:
    """The loss of a token model's logits: cross-entropy over real tokens, label-smoothed if asked."""
    if smoothing:
        return SmoothedCrossentropy(smoothing)
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=PAD_ID)


def exact_match(hypotheses: list[str], references: list[str]) -> float:
    """Share of outputs equal to their reference, in %."""
    return 100.0 * float(np.mean([h == r for h, r in zip(hypotheses, references)]))


def text_scores(hypotheses: list[str], references: list[str]) -> dict:
    """Exact match (%), BLEU and chrF (sacrebleu's defaults) of outputs against one reference each."""
    scores = sacrebleu_scores(hypotheses, references)
    return {k: scores[k] for k in ("exact_match", "bleu", "chrf")}


def sacrebleu_scores(hypotheses: list[str], references: list[str]) -> dict:
    """BLEU and chrF as papers report them (sacrebleu's defaults, against untouched references),
    their signatures, the same case-insensitive, and exact match (%)."""
    from sacrebleu.metrics import BLEU, CHRF

    scores = {"exact_match": exact_match(hypotheses, references)}
    for name, metric in (("bleu", BLEU()), ("chrf", CHRF()), ("bleu_lowercase", BLEU(lowercase=True))):
        scores[name] = metric.corpus_score(hypotheses, [references]).score
        scores[f"{name}_signature"] = str(metric.get_signature())
    return scores


def bleu_1_to_4(hypotheses: list[str], references: list[str]) -> dict:
    """Exact match (%) and BLEU-1 .. BLEU-4 (sacrebleu, one reference each): the captioning scores."""
    from sacrebleu.metrics import BLEU

    scores = {"exact_match": exact_match(hypotheses, references)}
    for n in range(1, 5):
        scores[f"bleu{n}"] = BLEU(max_ngram_order=n).corpus_score(hypotheses, [references]).score
    return scores


def nrmse(prediction, truth, scale) -> float:
    """Root mean squared error divided by `scale` (the series' standard deviation)."""
    return float(np.sqrt(np.mean((np.asarray(prediction) - np.asarray(truth)) ** 2)) / scale)


def scores_by_length(lengths, hypotheses: list[str], references: list[str], edges=(10, 20, 30, 40)) -> dict:
    """`text_scores` per bucket of source length ("1-10", "11-20", ..., "41+" for the default
    edges): long sentences are where attention is supposed to matter."""
    bounds = [0, *edges, np.inf]
    buckets = {}
    for low, high in zip(bounds[:-1], bounds[1:]):
        chosen = [i for i, n in enumerate(lengths) if low < n <= high]
        if chosen:
            name = f"{low + 1}-{int(high)}" if np.isfinite(high) else f"{low + 1}+"
            scores = text_scores([hypotheses[i] for i in chosen], [references[i] for i in chosen])
            buckets[name] = {"pairs": len(chosen), **scores}
    return buckets
