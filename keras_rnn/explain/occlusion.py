"""Occlusion: how much each word's probability drops when a grey patch hides part of the image.

A grey square (`--patch` pixels, value 128) slides over the image in steps of `--stride`;
for every position the caption is teacher-forced on the occluded image and each word's
probability p(w_t | w_<t, image) is compared with the unoccluded one (Zeiler & Fergus 2014).
On generated scenes, a shape word's largest drop should lie over an object of that shape
(the scene masks give the number, as for the attention). Also drawn side by side for each
word: where the attention looks, the saliency, and the occlusion drop.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from keras_rnn import UserError
from keras_rnn.data.scenes import SHAPES
from keras_rnn.explain import symmetric_scale
from keras_rnn.explain.captioner import Captioner, add_image_arguments, object_of, read_images
from keras_rnn.explain.saliency import saliency_maps

GREY = 128.0


def add_arguments(parser) -> None:
    add_image_arguments(parser)
    parser.add_argument(
        "--patch", type=int, default=0, help="side of the grey square (default: image size / 4)"
    )
    parser.add_argument(
        "--stride", type=int, default=0, help="step between patches (default: image size / 16)"
    )


def occlusion_drops(captioner: Captioner, image: np.ndarray, ids: list[int], patch: int, stride: int):
    """(drop [T, n, n] of each word's probability per patch position, patch centres [n] in pixels)."""
    size = image.shape[0]
    starts = list(range(0, size - patch + 1, stride))
    occluded = []
    for top in starts:
        for left in starts:
            hidden = image.astype(np.float32).copy()
            hidden[top : top + patch, left : left + patch] = GREY
            occluded.append(hidden)
    batch = np.concatenate([image[None].astype(np.float32), np.stack(occluded)])
    probs = []
    for i in range(0, len(batch), 256):
        chunk = batch[i : i + 256]
        probs.append(tf.exp(captioner.log_probs(chunk, tf.constant([ids] * len(chunk), tf.int32))).numpy())
    probs = np.concatenate(probs)
    drops = (probs[:1] - probs[1:]).T.reshape(len(ids) - 1, len(starts), len(starts))
    return drops, np.array(starts) + patch / 2


def run(run, args, out) -> dict:
    captioner = Captioner(run)
    size = captioner.cfg.image_size
    patch, stride = args.patch or max(1, size // 4), args.stride or max(1, size // 16)
    if not 1 <= patch <= size or not 1 <= stride <= size:
        raise UserError(f"need 1 <= --patch <= {size} and 1 <= --stride <= {size} (the image size)")
    images, names, split = read_images(captioner, args)
    results, hits, total, scales = [], 0, 0, {}
    for i, (image, name, found) in enumerate(zip(images, names, captioner.greedy(images))):
        drops, centres = occlusion_drops(captioner, image, found["ids"], patch, stride)
        words = []
        for t, word in enumerate(found["words"]):
            row, col = np.unravel_index(np.argmax(drops[t]), drops[t].shape)
            y, x = centres[row], centres[col]
            entry = {"word": word, "largest_drop": float(drops[t].max()), "at": [float(y), float(x)]}
            if split is not None and split.masks is not None and word in SHAPES:
                entry["largest_drop_on_named_shape"] = object_of(split, i, word, y, x)
                hits, total = hits + entry["largest_drop_on_named_shape"], total + 1
            words.append(entry)
        saliency = saliency_maps(captioner, image, found["ids"])["vanilla"]
        scale = draw_comparison(
            out / f"occlusion_{name}.png", image, found, saliency, drops, centres, found["caption"]
        )
        scales[f"occlusion_{name}.png"] = (
            f"occlusion drop ±{scale:.3g} (the largest |change of p| for this image); "
            "attention and saliency: each word from 0 to its own largest value"
        )
        results.append({"image": name, "caption": found["caption"], "words": words})
        print(f"{name}: {found['caption']!r}")
    summary = {"patch": patch, "stride": stride, "images": results, "colour_scales": scales}
    if total:
        summary["occlusion_peak_on_named_shape"] = hits / total
        summary["shape_words"] = total
        print(f"largest drop over an object of the named shape: {hits}/{total} shape words")
    return summary


def draw_comparison(path, image, found, saliency, drops, centres, caption: str) -> float:
    """One column per word: attention over the grid (if any), saliency, occlusion drop; the drop
    on a symmetric scale of its largest |value| with a colour bar. Returns that scale."""
    from keras_rnn.plots import plt, save_figure

    words = found["words"]
    rows = [("attention", found["attention"])] if found["attention"] is not None else []
    rows += [("saliency", saliency), ("occlusion drop", drops)]
    size = image.shape[0]
    extent = (0, size, size, 0)
    scale = symmetric_scale(drops)
    columns = len(words) + 1
    fig, axes = plt.subplots(
        len(rows),
        columns + 1,  # the last, narrow column: the occlusion drop's colour bar
        figsize=(1.5 * columns + 0.8, 1.8 * len(rows)),
        gridspec_kw={"width_ratios": [1] * columns + [0.12]},
        squeeze=False,
    )
    for r, (label, maps) in enumerate(rows):
        axes[r, 0].imshow(image)
        axes[r, 0].set_title(f"occlusion drop (±{scale:.2g})" if r == len(rows) - 1 else label, fontsize=7)
        for t, word in enumerate(words):
            axis = axes[r, t + 1]
            axis.imshow(image, extent=extent)
            if label == "occlusion drop":  # red: the word got less likely with the patch centred there
                step = centres[1] - centres[0] if len(centres) > 1 else size
                low, high = centres[0] - step / 2, centres[-1] + step / 2
                shown = axis.imshow(
                    maps[t], cmap="bwr", vmin=-scale, vmax=scale, alpha=0.7, extent=(low, high, high, low)
                )
            else:
                axis.imshow(maps[t], cmap="magma", alpha=0.6, extent=extent, interpolation="nearest")
            axis.set_title(word, fontsize=7)
    for axis in [*axes[:, :-1].flat, *axes[:-1, -1]]:
        axis.axis("off")
    fig.suptitle(f"attention, saliency and occlusion for {caption!r}", fontsize=8)
    bar = fig.colorbar(shown, cax=axes[-1, -1])
    bar.set_label(f"drop of p(word), ±{scale:.2g}", fontsize=7)
    bar.ax.tick_params(labelsize=6)
    save_figure(fig, path)
    return scale
