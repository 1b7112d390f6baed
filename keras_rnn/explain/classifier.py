"""Saliency of a classifier (`--task classify`): which time steps or tokens decided the label.

The kind `saliency` on a classify run (`keras_rnn.explain.saliency` hands classify runs here).
Everything is taken for the predicted class c (the label the `classify` signature answers):

- series: the gradient of c's logit (the ESN: its readout score) with respect to each step's
  standardised input features (the output of the model's own `standardize` layer; Simonyan et
  al. 2014's vanilla gradient), its L2 norm per step. With `--window W`, also occlusion: the drop
  of p(c) when W steps at a time are set to the training mean (standardised 0; Zeiler & Fergus);
- text: gradient x embedding per token (the sum over the embedding of both), signed: a positive
  token pushed towards c, a negative one away from it.

Inputs: `.ts` / `.csv` series files or texts, as `predict.py` takes them; with none, the first
`--sequences` of the run's test sequences (its validation ones without a test file). Per
sequence `saliency_NAME.png` (the series under a saliency band, or the tokens coloured) and its
numbers in `saliency.json`.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from keras_rnn import UserError
from keras_rnn.data import classification, labelled
from keras_rnn.data.tokens import tokenize
from keras_rnn.limits import MAX_TEXT_CHARS

MAX_SEQUENCES = 16
MOST_SALIENT = 5  # steps or tokens listed per sequence
DRAWN_FEATURES, DRAWN_TOKENS = 8, 600


def add_arguments(parser) -> None:
    parser.add_argument(
        "inputs", nargs="*", help="a .ts / .csv series file, or texts (default: the run's test sequences)"
    )
    parser.add_argument(
        "--sequences",
        type=int,
        default=3,
        help=f"sequences explained: the first of the files or test data (at most {MAX_SEQUENCES})",
    )
    parser.add_argument(
        "--window", type=int, default=0, help="series: also occlude W steps at a time (default 0: off)"
    )


class Classifier:
    """A finished classify run from the layer the saliency is taken at: standardised series or
    token embeddings `z` [B, T, D] -> logits [B, C] (the run's own layers, weights shared)."""

    def __init__(self, run):
        from keras_rnn.tasks import classify

        self.cfg, self.vocab = run.config, run.vocab
        self.model_name = classify.model_of(self.cfg)  # rnn or esn
        self.first = run.model.get_layer("standardize" if self.vocab.kind == "series" else "embedding")
        self.rest = keras.Model([self.first.output, *run.model.inputs], run.model.output)
        self.probabilities = lambda logits: classify.probabilities(self.cfg, logits)

    def inputs(self, data) -> tuple[tf.Tensor, tf.Tensor]:
        """Labelled series or texts -> (zero-padded series or token ids, lengths)."""
        if self.vocab.kind == "series":
            return tuple(map(tf.constant, classification.padded(data)))
        ids, lengths = classification.TextIds(self.vocab)(tf.constant(data.texts))
        return ids, lengths

    def gradients(self, sequences, lengths):
        """(z, d logit_c / d z [B, T, D], probabilities [B, C], predicted class c [B])."""
        z = self.first(sequences)
        with tf.GradientTape() as tape:
            tape.watch(z)
            logits = self.rest([z, sequences, lengths], training=False)
            probs = self.probabilities(logits)
            predicted = tf.argmax(probs, axis=-1, output_type=tf.int32)
            picked = tf.gather(logits, predicted, batch_dims=1)
        return z.numpy(), tape.gradient(picked, z).numpy(), probs.numpy(), predicted.numpy()

    def occlusion(self, z, sequences, lengths, predicted, window: int) -> list[np.ndarray]:
        """Per sequence, per step: p(c) unoccluded minus p(c) with its window of `window` steps
        at the training mean (standardised 0)."""
        drops = []
        for i, length in enumerate(lengths.numpy()):
            starts = list(range(0, length, window))
            hidden = np.repeat(z[i : i + 1], len(starts) + 1, axis=0)
            for k, start in enumerate(starts, 1):
                hidden[k, start : start + window] = 0.0
            count = len(hidden)
            args = [tf.repeat(sequences[i : i + 1], count, 0), tf.repeat(lengths[i : i + 1], count, 0)]
            logits = self.rest([tf.constant(hidden), *args], training=False)
            p = self.probabilities(logits).numpy()[:, predicted[i]]
            drops.append(np.repeat(p[0] - p[1:], window)[:length])
        return drops


def read_inputs(classifier: Classifier, args):
    """(the sequences to explain, one name per sequence, their true labels or None)."""
    vocab = classifier.vocab
    if not 1 <= args.sequences <= MAX_SEQUENCES or args.window < 0:
        raise UserError(f"need 1 <= --sequences <= {MAX_SEQUENCES} and --window >= 0")
    if args.window and vocab.kind == "text":
        raise UserError("--window occludes steps of a series: this run reads text")
    if vocab.kind == "text" and args.inputs:
        if len(args.inputs) > MAX_SEQUENCES:
            raise UserError(f"{len(args.inputs)} texts: give at most {MAX_SEQUENCES}")
        for text in args.inputs:
            if not text.strip() or len(text) > MAX_TEXT_CHARS:
                raise UserError(f"every text needs 1 to {MAX_TEXT_CHARS} characters, not {len(text.strip())}")
        texts = labelled.LabelledText(list(args.inputs), [""] * len(args.inputs))
        return texts, [f"text_{i + 1}" for i in range(len(texts))], None
    if args.inputs:
        parts = [labelled.read_labelled_series(path) for path in args.inputs]
        for part in parts:
            if part.features != vocab.features:
                raise UserError(
                    f"{part.source}: {part.features} features per step; the run reads {vocab.features}"
                )
        series, labels = [s for p in parts for s in p.series], [y for p in parts for y in p.labels]
        data = labelled.LabelledSeries(
            series, labels, vocab.features, lines=[n for p in parts for n in p.lines]
        )
        names = [f"{Path(p.source).stem}_{line}" for p in parts for line in p.lines]
    else:
        splits = classification.load_splits(classifier.cfg)
        data, split = (splits.test, "test") if splits.test is not None else (splits.validation, "validation")
        names = [f"{split}_{i + 1}" for i in range(len(data))]
    kept = list(range(min(args.sequences, len(data))))
    return labelled._take(data, kept), names[: len(kept)], [data.labels[i] for i in kept]


def run(run, args, out) -> dict:
    classifier = Classifier(run)
    vocab = classifier.vocab
    data, names, truth = read_inputs(classifier, args)
    sequences, lengths = classifier.inputs(data)
    z, gradient, probs, predicted = classifier.gradients(sequences, lengths)
    drops = classifier.occlusion(z, sequences, lengths, predicted, args.window) if args.window else None
    tokens = None
    if vocab.kind == "text":
        tokens = tokenize(tf.constant(data.texts), vocab.level, vocab.lowercase).to_list()
    results = []
    for i, name in enumerate(names):
        length = int(lengths[i])
        if vocab.kind == "series":
            saliency = np.linalg.norm(gradient[i, :length], axis=-1)
        else:
            saliency = (gradient[i, :length] * z[i, :length]).sum(-1)
        label = vocab.labels[predicted[i]]
        entry = {
            "name": name,
            "length": length,
            "label": label,
            "probabilities": dict(zip(vocab.labels, numbers(probs[i]))),
            "true_label": truth[i] if truth else None,
            "saliency": numbers(saliency),
            "most_salient": np.argsort(-np.abs(saliency))[:MOST_SALIENT].tolist(),
        }
        if tokens is not None:
            entry["tokens"] = [t.decode("utf-8") for t in tokens[i]]
            draw_tokens(out / f"saliency_{name}.png", entry["tokens"], saliency, entry)
        else:
            entry["occlusion_drop"] = numbers(drops[i]) if drops else None
            draw_series(
                out / f"saliency_{name}.png", data.series[i], saliency, drops[i] if drops else None, entry
            )
        results.append(entry)
        print(f"{name}: {label} ({probs[i, predicted[i]]:.3f})" + (f", true {truth[i]}" if truth else ""))
    method = (
        "L2 norm over the features of d logit(predicted) / d standardised input, per step"
        if vocab.kind == "series"
        else "gradient x embedding per token, summed over the embedding (signed)"
    )
    summary = {"task": "classify", "kind": vocab.kind, "model": classifier.model_name, "method": method}
    scale = (
        "the band and the bars: each sequence from 0 to its own largest saliency"
        if vocab.kind == "series"
        else "each text from blue (−its largest |score|) through white (0) to red (+its largest |score|)"
    )
    pictures = {f"saliency_{entry['name']}.png": scale for entry in results}
    return {**summary, "window": args.window or None, "sequences": results, "colour_scales": pictures}


def numbers(values) -> list[float]:
    """float32 values for JSON: 6 significant digits, not float32's binary tails."""
    return [float(f"{v:.6g}") for v in np.asarray(values, np.float64)]


def title(entry: dict) -> str:
    p = entry["probabilities"][entry["label"]]
    truth = f", true {entry['true_label']!r}" if entry["true_label"] else ""
    return f"{entry['name']}: predicted {entry['label']!r} (p {p:.2f}){truth}"


def draw_series(path, series, saliency, drops, entry) -> None:
    """Top: the series (its first features) over a band of the per-step saliency; below: the
    saliency (and the occlusion drop) as bars per step."""
    from keras_rnn.plots import plt, save_figure

    steps = np.arange(len(series))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 4.5), sharex=True, height_ratios=[2, 1])
    low, high = float(series.min()), float(series.max())
    pad = 0.05 * (high - low or 1.0)
    band = saliency / (saliency.max() or 1.0)
    extent = (-0.5, len(series) - 0.5, low - pad, high + pad)
    top.imshow(band[None], aspect="auto", cmap="Reds", vmin=0, vmax=1, alpha=0.6, extent=extent)
    for f in range(min(series.shape[1], DRAWN_FEATURES)):
        top.plot(steps, series[:, f], lw=1.2, label=f"feature {f + 1}")
    top.set_ylim(low - pad, high + pad)
    top.legend(fontsize=7, loc="upper right")
    bottom.bar(steps, saliency, color="tab:red", width=1.0, label="|gradient| per step")
    if drops is not None:
        drop_axis = bottom.twinx()
        drop_axis.plot(steps, drops, color="black", lw=1)
        drop_axis.set_ylabel("occlusion: drop of p", fontsize=8)
    bottom.set_xlabel("step")
    bottom.set_ylabel("saliency", fontsize=8)
    top.set_title(title(entry), fontsize=9)
    save_figure(fig, path)


def draw_tokens(path, tokens, scores, entry, columns: int = 100) -> None:
    """The tokens in reading order, each on its score's colour (red: towards the predicted
    label, blue: away from it, white: no effect)."""
    from keras_rnn.plots import plt, save_figure

    shown = tokens[:DRAWN_TOKENS]
    scale = float(np.abs(scores).max()) or 1.0
    places, x, y = [], 0, 0
    for token in shown:
        width = max(1, len(token)) + 1
        if x + width > columns and x:
            x, y = 0, y + 1
        places.append((x, y))
        x += width
    width = 0.085 * columns + 0.6  # inches: a 9 pt monospace character is 0.075 in wide, plus margins
    fig, ax = plt.subplots(figsize=(width, 0.7 + 0.25 * (y + 1)))
    cmap = plt.get_cmap("bwr")
    for token, score, (x, y) in zip(shown, scores, places):
        colour = cmap(0.5 + 0.5 * score / scale)
        shown_as = token.replace(" ", "\u2423") or "\u2205"  # a space as ␣, an empty token as ∅
        box = {"facecolor": colour, "pad": 1.5, "lw": 0}
        row = 1 - (y + 0.5) / (places[-1][1] + 1)
        ax.text(x / columns, row, shown_as, family="monospace", fontsize=9, va="center", bbox=box)
    ax.axis("off")
    more = f" (first {DRAWN_TOKENS} of {len(tokens)} tokens)" if len(tokens) > DRAWN_TOKENS else ""
    ax.set_title(f"{title(entry)}{more}\nred: towards the predicted label, blue: away from it", fontsize=9)
    save_figure(fig, path)
