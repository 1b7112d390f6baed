"""Fooling images: the smallest perturbation that changes one word of the caption ("red" -> "blue").

Targeted attacks on the teacher-forced caption with the word swapped (its cross-entropy is
lowered): the fast gradient sign method (one step of size ε, Goodfellow et al. 2015) and its
iterative form (steps of ε / 8 kept within ε of the image, Kurakin et al. 2017). For each ε of
a ladder (in pixel units, 0..255: the L∞ size of the change) the perturbed image is rounded
to uint8 and captioned greedily as the served model would; the smallest ε whose caption is
the original with exactly that word swapped is reported.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from keras_rnn import UserError
from keras_rnn.data.scenes import COLOURS
from keras_rnn.explain.captioner import Captioner, add_image_arguments, read_images

EPSILONS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)
NEXT_COLOUR = dict(zip(COLOURS, list(COLOURS)[2:] + list(COLOURS)[:2]))  # red->blue, green->yellow ...


def add_arguments(parser) -> None:
    add_image_arguments(parser)
    parser.add_argument("--word", help="the caption word to change (default: its first colour word)")
    parser.add_argument("--to", help="the word it should become (default: another colour, e.g. red -> blue)")
    parser.add_argument(
        "--max-epsilon", type=int, default=64, help="largest L∞ tried, in pixel units (0..255)"
    )
    parser.add_argument("--steps", type=int, default=20, help="steps of the iterative attack")
    parser.add_argument(
        "--magnify", type=int, default=0, help="draw the perturbation N times larger (default: 127 / its L∞)"
    )


def swap(captioner: Captioner, words: list[str], args) -> tuple[int, str, str] | None:
    """(position in the caption, word, replacement) or None when the caption has no such word."""
    choices = [args.word] if args.word else list(NEXT_COLOUR)
    for t, word in enumerate(words):
        if word in choices:
            to = args.to or NEXT_COLOUR.get(word)
            if to is None:
                raise UserError(f"--to is needed: there is no default replacement for {word!r}")
            captioner.word_id(to)  # refuses a word the model cannot write
            return t, word, to
    return None


def attack(captioner: Captioner, image: np.ndarray, target: list[int], epsilons, steps: int):
    """The images perturbed by FGSM and by the iterative attack, one per ε: uint8 [2, E, S, S, 3]."""
    eps = np.array(epsilons, np.float32)[:, None, None, None]
    original = np.repeat(image[None].astype(np.float32), len(epsilons), 0)
    caption = tf.constant([target] * len(epsilons), tf.int32)

    def descent_sign(pixels):
        pixels = tf.Variable(pixels)
        with tf.GradientTape() as tape:
            loss = -tf.reduce_sum(captioner.log_probs(pixels, caption))
        return np.sign(tape.gradient(loss, pixels).numpy())

    fgsm = original - eps * descent_sign(original)
    iterative = original.copy()
    for _ in range(steps):
        iterative = iterative - eps / 8 * descent_sign(iterative)
        iterative = np.clip(iterative, original - eps, original + eps)
    both = np.stack([fgsm, iterative])
    return np.clip(np.round(both), 0, 255).astype(np.uint8)


def run(run, args, out) -> dict:
    if not 1 <= args.max_epsilon <= 255 or not 1 <= args.steps <= 1000 or args.magnify < 0:
        raise UserError("need 1 <= --max-epsilon <= 255, 1 <= --steps <= 1000 and --magnify >= 0")
    captioner = Captioner(run)
    images, names, _ = read_images(captioner, args)
    epsilons = [e for e in EPSILONS if e <= args.max_epsilon]
    results, scales = [], {}
    for image, name, found in zip(images, names, captioner.greedy(images)):
        chosen = swap(captioner, found["words"], args)
        if chosen is None:
            results.append({"image": name, "caption": found["caption"], "skipped": "no word to change"})
            print(f"{name}: {found['caption']!r}: no word to change")
            continue
        t, word, to = chosen
        target = list(found["ids"])
        target[t + 1] = captioner.word_id(to)  # ids start with <start>
        perturbed = attack(captioner, image, target, epsilons, args.steps)
        entry = {"image": name, "caption": found["caption"], "word": word, "to": to}
        best = {}
        for method, batch in zip(("fgsm", "iterative"), perturbed):
            outcomes = captioner.greedy(batch)
            fooled = [e for e, o in zip(epsilons, outcomes) if o["ids"] == target]
            entry[f"{method}_epsilon"] = fooled[0] if fooled else None
            index = epsilons.index(fooled[0]) if fooled else len(epsilons) - 1
            entry[f"{method}_caption"] = outcomes[index]["caption"]
            best[method] = (batch[index], entry[f"{method}_epsilon"], outcomes[index]["caption"])
        scales[f"fool_{name}.png"] = draw_fooling(
            out / f"fool_{name}.png", image, found["caption"], best, args.magnify, len(epsilons)
        )
        results.append(entry)
        found_at = {
            method: f"at L∞ {entry[f'{method}_epsilon']}"
            if entry[f"{method}_epsilon"] is not None
            else f"not fooled at any of the {len(epsilons)} ε tried (largest {epsilons[-1]})"
            for method in ("fgsm", "iterative")
        }
        print(
            f"{name}: {word!r} -> {to!r}: FGSM {found_at['fgsm']}, iterative {found_at['iterative']} "
            "(L∞ in pixel units, 0..255)"
        )
    fooled = [r["iterative_epsilon"] for r in results if r.get("iterative_epsilon") is not None]
    return {
        "epsilons_tried": epsilons,
        "iterative_steps": args.steps,
        "images": results,
        "iterative_fooled": len(fooled),
        "iterative_median_epsilon": float(np.median(fooled)) if fooled else None,
        "colour_scales": scales,
    }


def draw_fooling(path, image, caption: str, best: dict, magnify: int, tried: int) -> str:
    """Per method: original | perturbation x magnify (grey = 0) | the perturbed image, with
    captions. Returns how the perturbation is scaled."""
    import textwrap

    from keras_rnn.plots import plt, save_figure

    fig, axes = plt.subplots(len(best), 3, figsize=(7.5, 3.1 * len(best)), squeeze=False)
    scales = []
    for row, (method, (perturbed, epsilon, new_caption)) in enumerate(best.items()):
        change = perturbed.astype(np.float32) - image.astype(np.float32)
        times = magnify or max(1, round(127 / max(1.0, float(np.abs(change).max()))))
        shown = np.clip(128 + times * change, 0, 255).astype(np.uint8)
        scales.append(f"{method}: change ×{times} around grey 128")
        size = f"L∞ = {epsilon}" if epsilon is not None else f"not fooled at any of {tried} ε"
        panels = [(image, f"original: {caption}"), (shown, f"{method}, {size}, change ×{times}")]
        panels.append((perturbed, f"result: {new_caption}"))
        for axis, (picture, title) in zip(axes[row], panels):
            axis.imshow(picture)
            axis.set_title(textwrap.fill(title, 40), fontsize=7)
            axis.axis("off")
    save_figure(fig, path)
    return "; ".join(scales) + "; the images: their own pixels 0..255"
