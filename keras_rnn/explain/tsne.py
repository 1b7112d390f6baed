"""t-SNE maps of what the models compute (scikit-learn's TSNE, van der Maaten & Hinton 2008).

`--task caption`: the image vectors (the encoder's grid average) of validation images,
coloured by the first object's colour and shape (generated scenes) or the caption's length.
`--task translate`: the encoder's summary of each source sentence (its final states, forward
and backward; validation sentences, then training ones if there are too few), coloured by
the sentence's length and by whether it has `--word`. `--task charlm`: the top layer's hidden
state after each character of the run's validation text, coloured by the next character's
class.

Each colouring also gets a number: the share of each point's 10 nearest neighbours that
share its label, in the model's own space and on the map, beside the share expected by
chance (the labels' frequencies): how well the representation separates what it is
coloured by.
"""

from __future__ import annotations

import numpy as np

from keras_rnn import UserError

TASKS = ("caption", "translate", "charlm")
MAX_POINTS = 5000  # t-SNE is quadratic in memory and minutes beyond a few thousand points
NEIGHBOURS = 10


def add_arguments(parser) -> None:
    parser.add_argument("--points", type=int, default=500, help=f"points mapped (at most {MAX_POINTS:,})")
    parser.add_argument("--word", help="translate: colour the sentences that have this source word")
    parser.add_argument(
        "--perplexity",
        type=float,
        default=0.0,
        help="t-SNE's perplexity (default: 30, fewer for < 91 points)",
    )
    parser.add_argument("--seed", type=int, default=0)


def caption_points(run, count: int) -> tuple[np.ndarray, dict]:
    from keras_rnn.explain.captioner import Captioner, validation_split

    captioner, cfg = Captioner(run), run.config
    split = validation_split(cfg, count)
    if cfg.captions_file:
        labels = {"caption length (words)": [min(len(c.split()), 20) for c in split.captions[:count]]}
    else:
        first = [c.split()[1:3] for c in split.captions]  # "a red circle ..." -> colour, shape
        labels = {
            "first object's colour": [f[0] for f in first],
            "first object's shape": [f[1] for f in first],
        }
    images = split.images[:count].astype(np.float32)
    vectors = np.concatenate(
        [captioner.encode(images[i : i + 256])[1].numpy() for i in range(0, len(images), 256)]
    )
    return vectors, labels


def translate_points(run, count: int, word: str | None) -> tuple[np.ndarray, dict]:
    import tensorflow as tf

    from keras_rnn.data.translation import load_pairs
    from keras_rnn.tasks.translate import TranslateServing

    splits = load_pairs(run.config)  # validation sentences first, then training ones if too few
    sources = [source for source, _ in [*splits.validation, *splits.train][:count]]
    serving = TranslateServing(run.model, run.vocab, run.config)
    ids, lengths = serving.vectorizer.source(tf.constant(sources))
    _, _, summaries = serving.encode(ids)
    vectors = np.concatenate([s.numpy() for s in summaries], axis=-1)
    tokens = [set(source.lower().replace("?", " ").replace(".", " ").split()) for source in sources]
    word = word or max({w for t in tokens for w in t}, key=lambda w: sum(w in t for t in tokens))
    bins = ["1-3", "4-5", "6-8", "9+"]
    binned = [bins[np.searchsorted([3, 5, 8], n, side="left")] for n in lengths.numpy()]
    return vectors, {"source length (tokens)": binned, f"has the word {word!r}": [word in t for t in tokens]}


def charlm_points(run, count: int) -> tuple[np.ndarray, dict]:
    from keras_rnn.explain.cells import replay
    from keras_rnn.tasks import charlm

    _, text = charlm.load_corpus(run.config)
    text = text[: count + 1]
    if len(text) < 2:
        raise UserError("the run's validation text is too short to map")
    units, _ = replay(run.model, run.config, np.asarray(run.vocab.encode(text[:-1])))
    top = units[f"{run.config.layers}:h"]

    def kind(ch: str) -> str:
        if ch == "\n":
            return "newline"
        if ch == " ":
            return "space"
        return "letter" if ch.isalpha() else "digit" if ch.isdigit() else "punctuation"

    return top, {"next character": [kind(ch) for ch in text[1:]]}


def neighbour_agreement(points: np.ndarray, labels: list) -> float:
    """Share of each point's nearest neighbours (Euclidean) with the same label."""
    from sklearn.neighbors import NearestNeighbors

    _, index = NearestNeighbors(n_neighbors=NEIGHBOURS + 1).fit(points).kneighbors(points)
    labels = np.asarray(labels)
    return float((labels[index[:, 1:]] == labels[:, None]).mean())


def run(run, args, out) -> dict:
    if not 2 * NEIGHBOURS <= args.points <= MAX_POINTS or args.perplexity < 0:
        raise UserError(f"need {2 * NEIGHBOURS} <= --points <= {MAX_POINTS:,} and --perplexity >= 0")
    from sklearn.manifold import TSNE

    task = args.task
    if task == "caption":
        vectors, colourings = caption_points(run, args.points)
    elif task == "translate":
        vectors, colourings = translate_points(run, args.points, args.word)
    else:
        vectors, colourings = charlm_points(run, args.points)
    perplexity = args.perplexity or min(30.0, (len(vectors) - 1) / 3)
    if len(vectors) <= max(3 * perplexity, NEIGHBOURS):
        raise UserError(f"{len(vectors)} points: t-SNE needs more than 3 x --perplexity ({perplexity:g})")
    mapped = TSNE(2, perplexity=perplexity, init="pca", random_state=args.seed).fit_transform(vectors)
    results = {"task": task, "points": len(vectors), "dimensions": int(vectors.shape[1])}
    results.update(perplexity=perplexity, colourings={})
    results["colour_scales"] = {
        "tsne.png": "categorical: one colour per label (the legend), colour words in their colour"
    }
    for name, labels in colourings.items():
        values, counts = np.unique(np.asarray(labels).astype(str), return_counts=True)
        shares = counts / counts.sum()
        results["colourings"][name] = {
            "labels": dict(zip(values.tolist(), counts.tolist())),
            "neighbours_same_label_model_space": neighbour_agreement(vectors, labels),
            "neighbours_same_label_map": neighbour_agreement(mapped, labels),
            "neighbours_same_label_chance": float((shares**2).sum()),
        }
        print(
            f"{name}: {results['colourings'][name]['neighbours_same_label_map']:.0%} of map neighbours agree"
        )
    draw(out / "tsne.png", mapped, colourings, f"t-SNE of the {task} model ({len(vectors)} points)")
    return results


def draw(path, mapped: np.ndarray, colourings: dict, title: str) -> None:
    from matplotlib.colors import is_color_like

    from keras_rnn.plots import plt, save_figure

    fig, axes = plt.subplots(1, len(colourings), figsize=(5.5 * len(colourings), 5), squeeze=False)
    for axis, (name, labels) in zip(axes[0], colourings.items()):
        labels = np.asarray(labels).astype(str)
        for value in sorted(set(labels)):
            chosen = labels == value
            colour = value if is_color_like(value) and not value.isdigit() else None  # "red" in red
            axis.scatter(mapped[chosen, 0], mapped[chosen, 1], s=8, alpha=0.7, label=value, color=colour)
        axis.set_title(name, fontsize=9)
        axis.legend(fontsize=7, markerscale=2)
        axis.set_xticks([])
        axis.set_yticks([])
    fig.suptitle(title, fontsize=10)
    save_figure(fig, path)
