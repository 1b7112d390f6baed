"""Images that maximise a word's score: gradient ascent on the pixels with L2 regularisation.

The lecture's recipe (Simonyan, Vedaldi & Zisserman 2014): starting from a grey image, find
arg max_I S_w(I) - λ ||I||², where S_w is the word's unnormalised score (its logit; the paper's
choice: the softmax can rise by pushing the other words down instead) and I the image centred
and scaled to [-1, 1]; `--objective probability` maximises log p(w) instead. A captioner scores
a word after a prefix: by default the words before it in the first validation caption that
contains it ("a" before "red", "a blue" before "circle"), or `--prefix`. Optimised with Adam;
the pixels stay in range. Reported, on the grey start and on the result: the word's logit, its
probability after the prefix, and how the model captions the image; a raised logit whose
probability fell is said so (the other words' logits rose more).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from keras_rnn import UserError
from keras_rnn.data.tokens import tokenize
from keras_rnn.explain.captioner import Captioner, validation_split


def add_arguments(parser) -> None:
    parser.add_argument(
        "words", nargs="*", default=["red", "circle"], help="words to maximise (default: red circle)"
    )
    parser.add_argument(
        "--prefix", help="the caption words before the word (default: from a validation caption)"
    )
    parser.add_argument("--steps", type=int, default=200, help="gradient-ascent steps")
    parser.add_argument("--learning-rate", type=float, default=0.05, help="Adam's step on the [-1, 1] image")
    parser.add_argument("--l2", type=float, default=1e-3, help="λ, the L2 penalty on the [-1, 1] image")
    parser.add_argument(
        "--objective",
        choices=["logit", "probability"],
        default="logit",
        help="maximise the word's logit (the lecture's S_w, default) or its log-probability",
    )
    parser.add_argument("--seed", type=int, default=0)


def default_prefix(captioner: Captioner, word: str) -> list[str]:
    """The words before `word` in the first validation caption that has it ([] if none has)."""
    captions = validation_split(captioner.cfg, 50).captions
    for tokens in tokenize(tf.constant(captions), "word", lowercase=True).to_list():
        words = [t.decode("utf-8") for t in tokens]
        if word in words:
            return words[: words.index(word)]
    return []


def maximise(captioner: Captioner, word_id: int, inputs: list[int], args) -> tuple[np.ndarray, list]:
    """(the image uint8 [S, S, 3], the objective every 10 steps)."""
    size = captioner.cfg.image_size
    rng = np.random.default_rng(args.seed)
    centred = tf.Variable(rng.normal(0, 0.02, (1, size, size, 3)).astype(np.float32))
    optimizer = keras.optimizers.Adam(args.learning_rate)
    caption = tf.constant([inputs], tf.int32)
    scores = []
    for step in range(args.steps):
        with tf.GradientTape() as tape:
            logits = captioner.logits(128.0 + 127.0 * centred, caption)[0, -1]
            score = logits[word_id] if args.objective == "logit" else tf.nn.log_softmax(logits)[word_id]
            loss = -score + args.l2 * tf.reduce_sum(tf.square(centred))
        optimizer.apply_gradients([(tape.gradient(loss, centred), centred)])
        centred.assign(tf.clip_by_value(centred, -1.0, 1.0))
        if step % 10 == 0 or step == args.steps - 1:
            scores.append(round(float(score), 3))
    return np.round(128.0 + 127.0 * centred.numpy()[0]).astype(np.uint8), scores


def scored(captioner: Captioner, image: np.ndarray, inputs: list[int], word_id: int) -> dict:
    """The word's logit and p(word | prefix, image) for a uint8 image, and the image's caption."""
    logits = captioner.logits(image[None].astype(np.float32), tf.constant([inputs], tf.int32))[0, -1]
    return {
        "logit": round(float(logits[word_id]), 4),
        "probability": round(float(tf.nn.softmax(logits)[word_id]), 4),
        "caption": captioner.greedy(image[None])[0]["caption"],
    }


def run(run, args, out) -> dict:
    if not 1 <= args.steps <= 10_000 or not args.learning_rate > 0 or args.l2 < 0:
        raise UserError("need 1 <= --steps <= 10000, --learning-rate > 0 and --l2 >= 0")
    if len(args.words) > 8:
        raise UserError(f"at most 8 words per command, got {len(args.words)}")
    captioner = Captioner(run)
    results, pictures = [], []
    for word in args.words:
        word_id = captioner.word_id(word)
        prefix = args.prefix.split() if args.prefix is not None else default_prefix(captioner, word)
        inputs = [captioner.serving.start_id, *(captioner.word_id(w) for w in prefix)]

        grey = np.full((captioner.cfg.image_size,) * 2 + (3,), 128, np.uint8)
        image, objective = maximise(captioner, word_id, inputs, args)
        before, after = scored(captioner, grey, inputs, word_id), scored(captioner, image, inputs, word_id)
        entry = {
            "word": word,
            "prefix": " ".join(prefix),
            "objective": args.objective,
            "objective_every_10_steps": objective,
            "grey": before,
            "result": after,
            # the names the JSON had before: the probability on grey and on the result, the caption
            "probability_grey": before["probability"],
            "probability_after": after["probability"],
            "caption_of_result": after["caption"],
        }
        if after["logit"] > before["logit"] and after["probability"] < before["probability"]:
            entry["note"] = "the logit rose but the probability fell: the other words' logits rose more"
        results.append(entry)
        pictures.append((grey, f"start (grey), {word!r} after {entry['prefix']!r}", before))
        pictures.append(
            (
                image,
                f"after {args.steps} steps on the {args.objective}"
                + (" (p fell)" if "note" in entry else ""),
                after,
            )
        )
        print(
            f"{word!r} after {entry['prefix']!r}: logit {before['logit']:.2f} -> {after['logit']:.2f}, "
            f"p {before['probability']:.3f} -> {after['probability']:.3f}; captioned "
            f"{before['caption']!r} -> {after['caption']!r}"
        )
    draw(out / "maximize.png", pictures)
    return {
        "objective": args.objective,
        "steps": args.steps,
        "learning_rate": args.learning_rate,
        "l2": args.l2,
        "words": results,
        "colour_scales": {"maximize.png": "the images' own pixels, 0..255 (no colour map)"},
    }


def draw(path, pictures) -> None:
    """Per word: the grey start and the result, each with the word's logit, p and the caption."""
    import textwrap

    from keras_rnn.plots import plt, save_figure

    fig, axes = plt.subplots(1, len(pictures), figsize=(2.6 * len(pictures), 3.8), squeeze=False)
    for axis, (image, what, score) in zip(axes[0], pictures):
        axis.imshow(image, vmin=0, vmax=255)
        title = (
            f"{what}\nlogit {score['logit']:.2f}, p {score['probability']:.3f}\ncaption: {score['caption']}"
        )
        axis.set_title("\n".join(textwrap.fill(line, 34) for line in title.split("\n")), fontsize=7)
        axis.axis("off")
    save_figure(fig, path)
