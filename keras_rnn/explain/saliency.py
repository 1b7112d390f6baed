"""Saliency: which pixels each word of the caption depends on, and the encoder's feature maps;
for a classify run, which steps or tokens decided its label (`keras_rnn.explain.classifier`); for a
tag run, which words decided one word's tag (`keras_rnn.explain.tagger`).

For each word w_t of the image's greedy caption, the gradient of log p(w_t | w_<t, image)
with respect to the pixels (Simonyan, Vedaldi & Zisserman 2014), its largest absolute value
over the colour channels drawn over the image; and the same with guided backpropagation
(Springenberg et al. 2015: through every ReLU of the encoder only positive gradients pass
back, and only where the unit was active). On generated scenes, a shape word's saliency peak
is checked against the objects of that shape (the scene masks, widened by 2 pixels: the
gradient peaks on an object's edge), like the attention's.
"""

from __future__ import annotations

import sys

import numpy as np

from keras_rnn.data.scenes import SHAPES
from keras_rnn.explain.captioner import (
    Captioner,
    add_image_arguments,
    guided,
    object_of,
    read_images,
    word_gradients,
)

EDGE = 2  # pixels: a gradient peaks on the object's edge, where its colour meets the background
TASKS = ("caption", "classify", "tag")


def for_task(task: str):
    """The module that explains `task`'s runs: this one, the classifier's or the tagger's."""
    if task in ("classify", "tag"):
        import importlib

        return importlib.import_module(
            f"keras_rnn.explain.{'classifier' if task == 'classify' else 'tagger'}"
        )
    return sys.modules[__name__]


def add_arguments(parser) -> None:
    add_image_arguments(parser)


def saliency_maps(captioner: Captioner, image: np.ndarray, ids: list[int]) -> dict[str, np.ndarray]:
    """{"vanilla": [T, S, S], "guided": [T, S, S]}: max over channels of |d log p(w_t) / d pixels|."""
    vanilla = word_gradients(captioner, image, ids)
    with guided(captioner.encoder):
        guided_gradients = word_gradients(captioner, image, ids)
    return {"vanilla": np.abs(vanilla).max(-1), "guided": np.abs(guided_gradients).max(-1)}


def run(run, args, out) -> dict:
    captioner = Captioner(run)
    images, names, split = read_images(captioner, args)
    results, hits, total, scales = [], 0, 0, {}
    for i, (image, name, found) in enumerate(zip(images, names, captioner.greedy(images))):
        maps = saliency_maps(captioner, image, found["ids"])
        words = []
        for t, word in enumerate(found["words"]):
            y, x = np.unravel_index(np.argmax(maps["vanilla"][t]), maps["vanilla"][t].shape)
            entry = {"word": word, "peak": [int(y), int(x)]}
            if split is not None and split.masks is not None and word in SHAPES:
                entry["peak_on_named_shape"] = object_of(split, i, word, y, x, margin=EDGE)
                hits, total = hits + entry["peak_on_named_shape"], total + 1
            words.append(entry)
        draw_saliency(out / f"saliency_{name}.png", image, found["words"], maps, found["caption"])
        scales[f"saliency_{name}.png"] = (
            "each word's map from 0 (black) to its own largest |gradient| (white)"
        )
        scales[f"feature_maps_{name}.png"] = "each channel from its own minimum to its maximum (viridis)"
        draw_feature_maps(out / f"feature_maps_{name}.png", image, captioner)
        results.append({"image": name, "caption": found["caption"], "words": words})
        print(f"{name}: {found['caption']!r}")
    summary = {"images": results, "colour_scales": scales}
    if total:
        summary["saliency_peak_on_named_shape"] = hits / total
        summary["shape_words"] = total
        print(f"saliency peak on an object of the named shape: {hits}/{total} shape words")
    return summary


def draw_saliency(path, image, words, maps, caption: str) -> None:
    """Row 1: the image and each word's vanilla saliency; row 2: guided backpropagation."""
    from keras_rnn.plots import plt, save_figure

    columns = len(words) + 1
    fig, axes = plt.subplots(2, columns, figsize=(1.5 * columns, 4.2), squeeze=False)
    for row, kind in enumerate(("vanilla", "guided")):
        axes[row, 0].imshow(image)
        axes[row, 0].set_title("vanilla gradient" if row == 0 else "guided backprop", fontsize=7)
        for t, word in enumerate(words):
            values = maps[kind][t]
            axes[row, t + 1].imshow(values / (values.max() or 1), cmap="gray", vmin=0, vmax=1)
            axes[row, t + 1].set_title(f"{word}\nmax {values.max():.2g}", fontsize=7)
    for axis in axes.flat:
        axis.axis("off")
    fig.suptitle(f"saliency of each word (white: its largest |gradient|): {caption!r}", fontsize=8)
    save_figure(fig, path)


def draw_feature_maps(path, image, captioner: Captioner, most: int = 64) -> None:
    """The encoder's last feature map (the attention's memory), one small image per channel."""
    import math

    from keras_rnn.plots import plt, save_figure

    memory, _ = captioner.encode(image[None].astype(np.float32))
    grid = captioner.grid
    channels = memory.numpy()[0].reshape(grid, grid, -1)[..., :most]
    side = math.ceil(math.sqrt(channels.shape[-1] + 1))
    fig, axes = plt.subplots(side, side, figsize=(1.1 * side, 1.1 * side), squeeze=False)
    axes.flat[0].imshow(image)
    for c in range(channels.shape[-1]):
        axes.flat[c + 1].imshow(channels[..., c], cmap="viridis", interpolation="nearest")
        axes.flat[c + 1].set_title(str(c), fontsize=6)
    for axis in axes.flat:
        axis.axis("off")
    fig.suptitle(f"encoder feature maps ({grid} x {grid}), first {channels.shape[-1]} channels", fontsize=8)
    save_figure(fig, path)
