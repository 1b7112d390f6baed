"""Baseline: the TensorFlow tutorial "Neural machine translation with attention", on our split.

    taskset -c 1 python benchmarks/translate_tutorial.py --pairs-file ../shared/data/fra-eng/fra.txt

The recipe of tensorflow.org/text/tutorials/nmt_with_attention, from its source (tensorflow/text
docs/tutorials/nmt_with_attention.ipynb, last changed 2023-02-15), kept as the tutorial has it so the
project's translator can be compared with it on the same pairs, clock and cores: its standardisation
(NFKD, lowercase, keep `[ a-z.?!,¿]`, punctuation apart, [START]/[END]) and 5,000-token vocabularies,
embedding = units = 256, bidirectional GRU encoder (sum), GRU decoder under teacher forcing, one-head
cross-attention + Add + LayerNormalization, Dense to the vocabulary, masked loss and accuracy, Adam,
batch 64, 100-batch epochs, EarlyStopping(patience=3), the tf.function greedy loop (<= 500 tokens).

Differences, and why. Pairs: keras_rnn's `read_pairs` + `split` (80/10/10, seeded, column 1 -> 2
unless --reverse), as train.py, so both systems see the same pairs (the tutorial: a random 80/20 mask,
no test set). NFKD in Python (unicodedata), as tensorflow-text is not installed; same text. Each epoch
is validated on the whole validation split (the tutorial: 20 batches) for a steady stopping signal, the
best weights are restored (the tutorial keeps the last), and a wall-clock budget ends training. Left
out: the shape checker, attention plots, sampling temperature. Keras 3: `get_initial_state(batch_size)`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import re
import sys
import time
import unicodedata
from datetime import datetime, timezone
from pathlib import Path

import keras
import numpy as np
import sacrebleu
import tensorflow as tf

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, git_commit, machine  # noqa: E402, I001
from keras_rnn.data import parallel  # noqa: E402


# ---------------------------------------------------------------- text and model, as the tutorial has them
def nfkd(texts):
    """The tutorial's `tf_text.normalize_utf8(text, 'NFKD')`, in Python: accented letters split into
    letter + combining mark, which the `[^ a-z...]` filter then drops ("está" -> "esta")."""
    return [unicodedata.normalize("NFKD", t) for t in texts]


def tf_lower_and_split_punct(text):
    text = tf.strings.lower(text)
    text = tf.strings.regex_replace(text, "[^ a-z.?!,¿]", "")  # keep space, a to z, select punctuation
    text = tf.strings.regex_replace(text, "[.?!,¿]", r" \0 ")  # spaces around punctuation
    return tf.strings.join(["[START]", tf.strings.strip(text), "[END]"], separator=" ")


def detokenize(text: str) -> str:
    """Outputs for scoring: tokens joined by spaces, then no space before . ? ! , nor after ¿
    ("¿ que es eso ?" -> "¿que es eso?"): the only punctuation the tutorial keeps."""
    return re.sub(r"¿ ", "¿", re.sub(r" ([.?!,])", r"\1", " ".join(text.split())))


class Encoder(keras.layers.Layer):
    def __init__(self, text_processor, units):
        super().__init__()
        self.text_processor = text_processor
        self.embedding = keras.layers.Embedding(text_processor.vocabulary_size(), units, mask_zero=True)
        self.rnn = keras.layers.Bidirectional(
            merge_mode="sum",
            layer=keras.layers.GRU(units, return_sequences=True, recurrent_initializer="glorot_uniform"),
        )

    def call(self, x):
        return self.rnn(self.embedding(x))

    def convert_input(self, texts):
        return self(self.text_processor(texts).to_tensor())


class CrossAttention(keras.layers.Layer):
    """The decoder's GRU outputs query the encoder's; the Keras masks keep padding out."""

    def __init__(self, units):
        super().__init__()
        self.mha = keras.layers.MultiHeadAttention(key_dim=units, num_heads=1)
        self.layernorm = keras.layers.LayerNormalization()
        self.add = keras.layers.Add()

    def call(self, x, context):
        return self.layernorm(self.add([x, self.mha(query=x, value=context)]))


class Decoder(keras.layers.Layer):
    def __init__(self, text_processor, units):
        super().__init__()
        vocabulary = text_processor.get_vocabulary()
        self.word_to_id = keras.layers.StringLookup(vocabulary=vocabulary, mask_token="", oov_token="[UNK]")
        self.id_to_word = keras.layers.StringLookup(
            vocabulary=vocabulary, mask_token="", oov_token="[UNK]", invert=True
        )
        self.start_token, self.end_token = self.word_to_id("[START]"), self.word_to_id("[END]")
        self.embedding = keras.layers.Embedding(len(vocabulary), units, mask_zero=True)
        self.rnn = keras.layers.GRU(
            units, return_sequences=True, return_state=True, recurrent_initializer="glorot_uniform"
        )
        self.attention = CrossAttention(units)
        self.output_layer = keras.layers.Dense(len(vocabulary))

    def call(self, context, x, state=None, return_state=False):
        x, state = self.rnn(self.embedding(x), initial_state=state)
        logits = self.output_layer(self.attention(x, context))
        return (logits, state) if return_state else logits

    def get_initial_state(self, context):
        batch_size = tf.shape(context)[0]
        start_tokens = tf.fill([batch_size, 1], self.start_token)
        done = tf.zeros([batch_size, 1], dtype=tf.bool)
        return start_tokens, done, self.rnn.get_initial_state(batch_size)[0]

    def tokens_to_text(self, tokens):
        result = tf.strings.reduce_join(self.id_to_word(tokens), axis=-1, separator=" ")
        result = tf.strings.regex_replace(result, r"^ *\[START\] *", "")
        return tf.strings.regex_replace(result, r" *\[END\] *$", "")

    def get_next_token(self, context, next_token, done, state):
        logits, state = self(context, next_token, state=state, return_state=True)
        next_token = tf.argmax(logits, axis=-1)  # greedy: the tutorial's temperature 0
        done = done | (next_token == self.end_token)
        next_token = tf.where(done, tf.constant(0, dtype=tf.int64), next_token)  # then only padding
        return next_token, done, state


class Translator(keras.Model):
    def __init__(self, units, context_text_processor, target_text_processor):
        super().__init__()
        self.encoder = Encoder(context_text_processor, units)
        self.decoder = Decoder(target_text_processor, units)

    def call(self, inputs):
        context, x = inputs
        logits = self.decoder(self.encoder(context), x)
        with contextlib.suppress(AttributeError):  # as the tutorial: the loss does its own masking
            del logits._keras_mask
        return logits

    def translate(self, texts, max_length=500):
        """The tutorial's dynamic loop. Run it under tf.function: it then stops once all are done, and
        the context's padding mask, read while tracing, holds for every step (eagerly, Keras 3's
        attention drops the mask from the context after the first step)."""
        context = self.encoder.convert_input(texts)
        next_token, done, state = self.decoder.get_initial_state(context)
        tokens = tf.TensorArray(tf.int64, size=1, dynamic_size=True)
        for t in tf.range(max_length):
            next_token, done, state = self.decoder.get_next_token(context, next_token, done, state)
            tokens = tokens.write(t, next_token)
            if tf.reduce_all(done):
                break
        tokens = tf.transpose(tokens.stack()[:, :, 0])  # (t, batch, 1) -> (batch, t)
        return self.decoder.tokens_to_text(tokens)


def masked_loss(y_true, y_pred):
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="none")(y_true, y_pred)
    mask = tf.cast(y_true != 0, loss.dtype)
    return tf.reduce_sum(loss * mask) / tf.reduce_sum(mask)


def masked_acc(y_true, y_pred):
    match = tf.cast(y_true == tf.cast(tf.argmax(y_pred, axis=-1), y_true.dtype), tf.float32)
    mask = tf.cast(y_true != 0, tf.float32)
    return tf.reduce_sum(match * mask) / tf.reduce_sum(mask)


# ---------------------------------------------------------------- the benchmark around it
class WallClock(keras.callbacks.Callback):
    """Ends training `seconds` (0: never) after it began, validation included; the epoch under way is
    cut short, then validated. Counts the steps and the seconds spent validating."""

    def __init__(self, seconds):
        super().__init__()
        self.seconds, self.steps, self.validation_seconds, self.out_of_time = seconds, 0, 0.0, False

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        self.on_epoch_end(None)

    def on_epoch_end(self, epoch, logs=None):  # here too, so no new epoch starts once time is up
        if self.seconds and time.perf_counter() - self.start > self.seconds:
            self.model.stop_training = self.out_of_time = True

    def on_test_begin(self, logs=None):
        self.validation_seconds -= time.perf_counter()

    def on_test_end(self, logs=None):
        self.validation_seconds += time.perf_counter()


def load_splits(args):
    """(train, validation, test) pairs, as `train.py --task translate` makes them from these files."""

    def read(path):
        return parallel.read_pairs(path, reverse=args.reverse).pairs

    if args.validation_file:
        train, val, test = read(args.pairs_file), read(args.validation_file), read(args.validation_file)
    else:
        train, val, test = parallel.split(read(args.pairs_file), args.seed)
    test = read(args.test_file) if args.test_file else test
    return train, val, test[: args.max_test] if args.max_test else test


def evaluate(model, test) -> dict:
    """Greedy translations of the test sources, scored with sacrebleu (corpus BLEU, chrF) against the
    references three ways: `lowercased` (spaced by the `detokenize` rule too, so French "Va !" is "va!",
    as in the project's own scores), `cased` (untouched), `tutorial_standardised` (no accents or
    apostrophes either: the best the tutorial's vocabulary can reach)."""
    translate = tf.function(model.translate, input_signature=[tf.TensorSpec([None], tf.string)])
    start, outputs = time.perf_counter(), []
    for i in range(0, len(test), 256):
        batch = translate(tf.constant(nfkd([s for s, _ in test[i : i + 256]])))
        outputs += [detokenize(t.decode("utf-8")) for t in batch.numpy()]
    result = {"decode_seconds": time.perf_counter() - start}
    cased = [t for _, t in test]
    standardised = [
        detokenize(t.decode("utf-8")[len("[START]") : -len("[END]")])
        for t in tf_lower_and_split_punct(tf.constant(nfkd(cased))).numpy()
    ]
    for name, refs in [
        ("lowercased", [detokenize(r.lower()) for r in cased]),
        ("cased", cased),
        ("tutorial_standardised", standardised),
    ]:
        bleu, chrf = sacrebleu.metrics.BLEU(), sacrebleu.metrics.CHRF()
        result[name] = {
            "bleu": bleu.corpus_score(outputs, [refs]).score,
            "chrf": chrf.corpus_score(outputs, [refs]).score,
            "exact_match": 100.0 * float(np.mean([o == r for o, r in zip(outputs, refs)])),
            "bleu_signature": str(bleu.get_signature()),
            "chrf_signature": str(chrf.get_signature()),
        }
    result["examples"] = [{"source": s, "reference": r, "output": o} for (s, r), o in zip(test[:8], outputs)]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs-file", required=True)
    parser.add_argument("--validation-file", help="held-out pairs: train on all of --pairs-file")
    parser.add_argument("--test-file", help="test pairs (default: the 10%% test split, or --validation-file)")
    parser.add_argument("--reverse", action="store_true", help="translate column 2 -> column 1")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--minutes", type=float, default=10, help="training budget (0 = none)")
    parser.add_argument("--epochs", type=int, default=100, help="of --steps-per-epoch batches")
    parser.add_argument("--steps-per-epoch", type=int, default=100)
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument("--units", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-test", type=int, default=0, help="score the first N test pairs only (0 = all)")
    parser.add_argument("--threads", type=int, default=1, help="TF intra- and inter-op threads")
    parser.add_argument("--out", default=str(RESULTS / "translate_tutorial.json"))
    args = parser.parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    keras.utils.set_random_seed(args.seed)
    began = time.perf_counter()
    train, val, test = load_splits(args)

    def strings(pairs):  # (context, target), NFKD first
        return tf.data.Dataset.from_tensor_slices(tuple(nfkd(side) for side in zip(*pairs)))

    train_raw = strings(train).shuffle(len(train)).batch(args.batch_size)
    context_text_processor, target_text_processor = (
        keras.layers.TextVectorization(standardize=tf_lower_and_split_punct, max_tokens=5000, ragged=True)
        for _ in range(2)
    )
    context_text_processor.adapt(train_raw.map(lambda context, target: context))
    target_text_processor.adapt(train_raw.map(lambda context, target: target))

    def process_text(context, target):
        context, target = context_text_processor(context).to_tensor(), target_text_processor(target)
        return (context, target[:, :-1].to_tensor()), target[:, 1:].to_tensor()

    model = Translator(args.units, context_text_processor, target_text_processor)
    model.compile(optimizer="adam", loss=masked_loss, metrics=[masked_acc, masked_loss])
    clock = WallClock(args.minutes * 60)
    stopping = keras.callbacks.EarlyStopping(patience=args.patience, restore_best_weights=True)
    history = model.fit(
        train_raw.map(process_text, tf.data.AUTOTUNE).repeat(),
        epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch,
        callbacks=[clock, stopping],
        verbose=2,
        validation_data=strings(val).batch(args.batch_size).map(process_text),
    ).history
    seconds = time.perf_counter() - clock.start
    # Target tokens the loss counts ([END] in, [START] out): exact per pass over train, prorated by steps.
    per_pass = int(tf.size(target_text_processor(nfkd([t for _, t in train])).flat_values)) - len(train)
    tokens = clock.steps / math.ceil(len(train) / args.batch_size) * per_pass
    best = int(np.argmin(history["val_loss"]))
    split = (
        f"train: all of it; validation: {Path(args.validation_file).name}"
        if args.validation_file
        else f"seeded shuffle, 80/10/10 train/validation/test, seed {args.seed}"
    )
    result = {
        "benchmark": "translate_tutorial",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "command": "python " + " ".join(sys.argv),
        "machine": {
            **machine(),
            "platform": platform.platform(),
            "threads": args.threads,
            "cpu_affinity": sorted(os.sched_getaffinity(0)),
        },
        "data": {
            "pairs_file": Path(args.pairs_file).name,
            "split": split,
            "test_file": args.test_file and Path(args.test_file).name,
            "direction": "column 2 -> 1" if args.reverse else "column 1 -> 2",
            "train_pairs": len(train),
            "validation_pairs": len(val),
            "test_pairs": len(test),
            "source_vocabulary": context_text_processor.vocabulary_size(),
            "target_vocabulary": target_text_processor.vocabulary_size(),
        },
        "training": {
            "epochs_run": len(history["val_loss"]),
            "steps_run": clock.steps,
            "stopped_by": "wall clock"
            if clock.out_of_time
            else "early stopping"
            if stopping.stopped_epoch
            else "epochs",
            "best_epoch": best + 1,
            "best_val_loss": float(history["val_loss"][best]),
            "seconds": seconds,
            "validation_seconds": clock.validation_seconds,
            "target_tokens": round(tokens),
            "target_tokens_per_second": tokens / (seconds - clock.validation_seconds),
        },
        "test": evaluate(model, test),
    }
    result["seconds"] = time.perf_counter() - began
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(result, indent=2, ensure_ascii=False))
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
