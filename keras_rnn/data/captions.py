"""Captioned images: a file of `image path<TAB>caption` lines, read into splits of
decoded, resized images and their captions (generated scenes: `keras_rnn.data.scenes`)."""

from __future__ import annotations

import dataclasses
import unicodedata
from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_rnn import UserError


@dataclasses.dataclass
class Split:
    images: np.ndarray  # uint8 [N, size, size, 3]
    captions: list[str]
    masks: np.ndarray | None = None  # generated scenes only: object masks [N, K, size, size]
    shapes: list | None = None


def read_image_file(path):
    """(the file's bytes, the decoded RGB image) of a PNG, JPEG, GIF or BMP file, or a UserError."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise UserError(f"{path}: {e.strerror}") from None
    try:
        return data, tf.io.decode_image(data, channels=3, expand_animations=False)
    except tf.errors.InvalidArgumentError:
        raise UserError(f"{path}: not a readable PNG, JPEG, GIF or BMP image") from None


def resize(image, size: int):
    """Decoded image [H, W, 3] -> uint8 [size, size, 3]: stretched (not cropped), antialiased bilinear;
    the same in training and in the exported `caption` signature."""
    return tf.cast(tf.round(tf.image.resize(image, [size, size], antialias=True)), tf.uint8)


def read_captions_file(path, size: int) -> tuple[list[str], np.ndarray, list[str]]:
    """A TSV file of `image path<TAB>caption` lines (paths relative to the file; an image may have
    several lines) -> (image path per line, the distinct images decoded and resized, caption per
    line); a bad line or image is an error naming the line."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: cannot read the captions file ({e}): give a UTF-8 text file") from None
    names, captions, images = [], [], {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) < 2 or not parts[0].strip() or not parts[1].strip():
            raise UserError(f"{path}:{number}: expected 'image path<TAB>caption'")
        name = parts[0].strip()
        if name not in images:
            try:
                _, image = read_image_file(path.parent / name)
            except UserError as e:
                raise UserError(
                    f"{path}:{number}: cannot read image {name} ({e}): fix or remove that line"
                ) from None
            images[name] = resize(image, size).numpy()
        names.append(name)
        captions.append(unicodedata.normalize("NFKC", parts[1].strip()))
    if len(images) < 3:
        raise UserError(
            f"{path}: {len(images)} captioned image(s); need at least 3 (train, validation, test)"
        )
    order = list(images)
    return names, np.stack([images[n] for n in order]), captions


def split_captions_file(path, size: int, seed: int) -> tuple[Split, Split, Split]:
    """A seeded 80/10/10 split by image (all captions of an image on the same side); training
    keeps every caption, validation and test the first caption of each image (one reference)."""
    names, pixels, captions = read_captions_file(path, size)
    index = {name: i for i, name in enumerate(dict.fromkeys(names))}
    order = np.random.default_rng(seed).permutation(len(index))
    n_eval = max(1, len(order) // 10)
    held_out = {"validation": set(order[:n_eval]), "test": set(order[n_eval : 2 * n_eval])}
    train = [
        i for i, name in enumerate(names) if index[name] not in held_out["validation"] | held_out["test"]
    ]

    first_line = {}
    for i, name in enumerate(names):
        first_line.setdefault(index[name], i)

    def first_captions(chosen):
        lines = [first_line[image] for image in sorted(chosen)]
        return Split(pixels[[index[names[i]] for i in lines]], [captions[i] for i in lines])

    return (
        Split(pixels[[index[names[i]] for i in train]], [captions[i] for i in train]),
        first_captions(held_out["validation"]),
        first_captions(held_out["test"]),
    )
