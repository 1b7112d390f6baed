"""Saliency of a tagger (`--task tag`): which words decided one word's tag.

The kind `saliency` on a tag run (`keras_rnn.explain.saliency` hands tag runs here). For the
chosen word k (`--word`, default the last) and its predicted tag c: gradient x embedding of
c's logit at step k, per word of the text (summed over the word and word-ending embeddings),
signed: red words pushed towards c, blue ones away from it (`explain.classifier`'s picture).
A bidirectional tagger's period after "light" can lean on the words that follow; a
one-directional one sees only the words before.

Inputs: texts, as `predict.py` takes them; with none, the first `--sequences` of the run's test
sequences (its validation ones without a test file). Per text `saliency_NAME.png` and its
numbers in `saliency.json`.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from keras_rnn import UserError
from keras_rnn.data import punctuation, tagging
from keras_rnn.explain.classifier import MAX_SEQUENCES, MOST_SALIENT, draw_tokens, numbers
from keras_rnn.limits import MAX_TAG_WORDS


def add_arguments(parser) -> None:
    parser.add_argument("inputs", nargs="*", help="texts (default: the run's test sequences)")
    parser.add_argument("--sequences", type=int, default=3, help=f"texts explained (at most {MAX_SEQUENCES})")
    parser.add_argument(
        "--word",
        type=int,
        default=-1,
        help="which word's tag to explain: its position from 0 (default -1: the last)",
    )


def read_texts(run, args) -> tuple[list[list[str]], list[str], list | None]:
    """(the words of each text, a name per text, their true tags or None)."""
    if not 1 <= args.sequences <= MAX_SEQUENCES:
        raise UserError(f"need 1 <= --sequences <= {MAX_SEQUENCES}")
    if args.inputs:
        if len(args.inputs) > MAX_SEQUENCES:
            raise UserError(f"{len(args.inputs)} texts: give at most {MAX_SEQUENCES}")
        words = [punctuation.words_of(text) for text in args.inputs]
        if not all(1 <= len(w) <= MAX_TAG_WORDS for w in words):
            raise UserError(f"every text needs 1 to {MAX_TAG_WORDS} words")
        return words, [f"text_{i + 1}" for i in range(len(words))], None
    splits = tagging.load_splits(run.config)
    data, split = (splits.test, "test") if splits.test is not None else (splits.validation, "validation")
    kept = list(range(min(args.sequences, len(data))))
    return [data.words[i] for i in kept], [f"{split}_{i + 1}" for i in kept], [data.tags[i] for i in kept]


def run(run, args, out) -> dict:
    model, vocab = run.model, run.vocab
    first = model.get_layer("embeddings" if run.config.suffix_dim else "embedding")
    embed = keras.Model(model.inputs, first.output)
    rest = keras.Model([first.output, *model.inputs], model.output)
    texts, names, truth = read_texts(run, args)
    results = []
    for i, (words, name) in enumerate(zip(texts, names)):
        k = args.word if args.word >= 0 else len(words) + args.word
        if not 0 <= k < len(words):
            raise UserError(f"--word {args.word}: {name} has {len(words)} words")
        word_ids, suffix_ids = tagging.TagIds(vocab)(tf.ragged.constant([words]))
        inputs = [word_ids.to_tensor(), suffix_ids.to_tensor(), tf.constant([len(words)], tf.int32)]
        z = embed(inputs)
        with tf.GradientTape() as tape:
            tape.watch(z)
            logits = rest([z, *inputs], training=False)[0]
            predicted = int(tf.argmax(logits[k]))
            picked = logits[k, predicted]
        saliency = (tape.gradient(picked, z)[0] * z[0]).numpy().sum(-1)
        probabilities = tf.nn.softmax(logits[k]).numpy()
        tags = [vocab.tags[j] for j in tf.argmax(logits, axis=-1).numpy()]
        entry = {
            "name": f"{name}, word {k} {words[k]!r}",
            "words": words,
            "word": k,
            "label": vocab.tags[predicted],
            "probabilities": {vocab.tags[predicted]: float(probabilities[predicted])},
            "true_label": truth[i][k] if truth else None,
            "restored": punctuation.restore(words, tags),
            "saliency": numbers(saliency),
            "most_salient": np.argsort(-np.abs(saliency))[:MOST_SALIENT].tolist(),
        }
        draw_tokens(out / f"saliency_{name}.png", words, saliency, entry)
        results.append(entry)
        print(f"{entry['name']}: {entry['label']} ({probabilities[predicted]:.3f}); {entry['restored']}")
    method = (
        "gradient x embedding (word and word ending) per word, of the chosen word's predicted tag's logit"
    )
    return {"task": "tag", "model": run.config.model, "method": method, "sequences": results}
