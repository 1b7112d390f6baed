"""The captioner as the image explanations need it: float pixels in (gradients reach them),
teacher-forced word probabilities out. Shared by saliency, occlusion, maximize and fool.

The trained model takes uint8 images; here its encoder's own layers are called on a float
image (0..255) instead, so the logits are the model's (tested) and differentiable in the pixels.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from keras_rnn import UserError
from keras_rnn.config import data_seed
from keras_rnn.data import scenes
from keras_rnn.data.captions import SPLIT_SEEDS, declared_pixels, read_image_file, split_captions_file
from keras_rnn.limits import MAX_IMAGE_PIXELS

MAX_IMAGES = 16  # images per command: each costs a few hundred forward passes (occlusion, fooling)
END_WORD = "<end>"


def add_image_arguments(parser, default_images: int = 3) -> None:
    parser.add_argument("inputs", nargs="*", help="image files (default: the run's validation images)")
    parser.add_argument(
        "--images",
        type=int,
        default=default_images,
        help=f"validation images taken when no file is given (at most {MAX_IMAGES})",
    )


class Captioner:
    """A finished caption run: its greedy captions and, for float images [B, S, S, 3] in 0..255,
    the log-probability of every word of a given caption (teacher forcing)."""

    def __init__(self, run):
        from keras_rnn.tasks import caption

        self.run, self.cfg, self.vocab = run, run.config, run.vocab
        self.encoder, self.decoder = run.model.get_layer("encoder"), run.model.get_layer("decoder")
        self.serving = caption.CaptionServing(run.model, run.vocab, run.config)
        self.grid = caption.grid_side(run.config)
        self.words = list(run.vocab.tokens)
        self.index = {w: i for i, w in enumerate(self.words)}

    def encode(self, pixels):
        """float [B, S, S, 3] -> memory [B, P, D], summary [B, D], through the encoder's layers."""
        x = pixels
        for layer in self.encoder.layers[1:-1]:  # after the input, up to the grid
            x = layer(x)
        return x, self.encoder.layers[-1](x)  # the last layer averages the grid: the summary

    def logits(self, pixels, inputs):
        """float images [B, S, S, 3], caption inputs [B, T] (<start> w_1 ..) -> next-word logits [B, T, V]."""
        memory, summary = self.encode(pixels)
        mask = tf.ones_like(memory[:, :, 0], tf.bool)
        return tf.cast(self.decoder(inputs, memory, mask, [summary] * self.decoder.n_states), tf.float32)

    def log_probs(self, pixels, ids):
        """float images [B, S, S, 3], captions [B, T + 1] (<start> w_1 .. w_T) -> log p(w_t) [B, T]."""
        logp = tf.nn.log_softmax(self.logits(pixels, ids[:, :-1]))
        return tf.gather(logp, ids[:, 1:], batch_dims=2)

    def greedy(self, images: np.ndarray) -> list[dict]:
        """uint8 images -> per image: the caption's words (and <end> if it ended), their ids with
        <start> first, and each word's attention over the grid [words, g, g] (None without attention)."""
        found = self.serving.search(tf.constant(images), 1, tf.constant(self.serving.max_steps))
        results = []
        for i in range(len(images)):
            length = int(found["lengths"][i])
            ids = [int(t) for t in found["tokens"][i].numpy()[: length + 1] if t]  # + <end>, if any
            attention = found["attention"][i, : len(ids)].numpy()
            results.append(
                {
                    "words": [self.word(t) for t in ids],
                    "caption": " ".join(self.word(t) for t in ids[:length]),
                    "ids": [self.serving.start_id, *ids],
                    "attention": None
                    if self.cfg.attention == "none"
                    else attention.reshape(len(ids), self.grid, self.grid),
                }
            )
        return results

    def word(self, token_id: int) -> str:
        return END_WORD if token_id == self.serving.end_id else self.words[token_id]

    def word_id(self, word: str) -> int:
        if word == END_WORD:
            return self.serving.end_id
        if word not in self.index:
            raise UserError(f"{word!r} is not a word of this captioner's vocabulary")
        return self.index[word]


def read_images(captioner: Captioner, args) -> tuple[np.ndarray, list[str], object]:
    """uint8 images [N, S, S, 3], their names, and the validation split they came from (its masks
    locate the objects of generated scenes) or None for files."""
    cfg = captioner.cfg
    if args.inputs:
        if len(args.inputs) > MAX_IMAGES:
            raise UserError(f"at most {MAX_IMAGES} images per command, got {len(args.inputs)}")
        encoded = []
        for path in args.inputs:
            data, _ = read_image_file(path)
            if int(declared_pixels(tf.constant(data))) > MAX_IMAGE_PIXELS:
                raise UserError(f"{path}: declares over {MAX_IMAGE_PIXELS:,} pixels")
            encoded.append(data)
        images = captioner.serving.decode_images(tf.constant(encoded)).numpy()
        return images, [Path(p).stem for p in args.inputs], None
    if not 1 <= args.images <= MAX_IMAGES:
        raise UserError(f"need 1 <= --images <= {MAX_IMAGES}")
    validation = validation_split(cfg, args.images)
    count = min(args.images, len(validation.captions))
    return validation.images[:count], [f"validation_{i}" for i in range(count)], validation


def validation_split(cfg, count: int):
    """A caption run's validation split as training made it, without building the others; of
    generated scenes only the first `count` (the same scenes: each is drawn after the ones before)."""
    if cfg.captions_file:
        return split_captions_file(cfg.captions_file, cfg.image_size, data_seed(cfg))[1]
    return scenes.generate(count, data_seed(cfg) + SPLIT_SEEDS[1], cfg.image_size)


def object_of(split, image: int, word: str, y: float, x: float, margin: int = 0) -> bool:
    """Whether pixel (y, x) of a generated scene lies on an object the shape `word` names, or
    within `margin` pixels of one."""
    y, x = int(y), int(x)
    near = split.masks[image, :, max(0, y - margin) : y + margin + 1, max(0, x - margin) : x + margin + 1]
    return any(shape == word and near[k].any() for k, shape in enumerate(split.shapes[image]))


# ---------------------------------------------------------------- guided backpropagation
@tf.custom_gradient
def guided_relu(x):
    """ReLU whose gradient passes only where the input was positive AND the incoming gradient is
    (Springenberg et al. 2015): the guided-backpropagation rule."""

    def gradient(upstream):
        return upstream * tf.cast(x > 0, upstream.dtype) * tf.cast(upstream > 0, upstream.dtype)

    return tf.nn.relu(x), gradient


@contextlib.contextmanager
def guided(encoder):
    """Every ReLU of the encoder (conv activations, ReLU layers) uses `guided_relu` inside."""
    swapped = []
    for layer in encoder._flatten_layers(include_self=False, recursive=True):
        if getattr(layer, "activation", None) is keras.activations.relu:
            swapped.append((layer, "activation", layer.activation))
            layer.activation = guided_relu
        elif isinstance(layer, keras.layers.ReLU) and layer.max_value is None and not layer.negative_slope:
            swapped.append((layer, "call", layer.call))
            layer.call = guided_relu
    if not swapped:
        raise UserError("guided backpropagation: this encoder has no ReLU")
    try:
        yield len(swapped)
    finally:
        for layer, name, original in swapped:
            setattr(layer, name, original)


def word_gradients(captioner: Captioner, image: np.ndarray, ids: list[int]) -> np.ndarray:
    """d log p(w_t) / d pixels for each word w_t of the caption `ids` (<start> first): [T, S, S, 3].
    One pass: the image repeated T times, copy t differentiated for word t only."""
    count = len(ids) - 1
    pixels = tf.Variable(np.repeat(image[None].astype(np.float32), count, 0))
    caption = tf.constant([ids] * count, tf.int32)
    with tf.GradientTape() as tape:
        logp = captioner.log_probs(pixels, caption)
        objective = tf.reduce_sum(tf.linalg.diag_part(logp))
    return tape.gradient(objective, pixels).numpy()
