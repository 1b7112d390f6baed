"""Captioned images as model inputs: the splits the options name (a file of `image path<TAB>caption`
lines, read into decoded, resized images and their captions, or generated scenes:
`keras_rnn.data.scenes`), the caption words' vocabulary and the tf.data pipeline.

Words come from `keras_rnn.data.tokens` (word level, lowercased); ids 0 padding, 1 unknown,
2 <start>, 3 <end>, then the most frequent words.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_rnn import UserError
from keras_rnn import config as config_lib
from keras_rnn.data import passes_or_one, scenes
from keras_rnn.data.tokens import (
    END,
    START,
    TokenVocabulary,
    load_json,
    normalized,
    save_json,
    token_ids,
    tokenize,
)
from keras_rnn.limits import MAX_IMAGE_PIXELS

START_ID, END_ID = 2, 3
SPLIT_SEEDS = (0, 10_000, 20_000)  # generated scenes: training, validation, test from --data-seed + these


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
    if int(declared_pixels(data)) > MAX_IMAGE_PIXELS:  # checked before decoding, as the server does
        raise UserError(f"{path}: the image declares over {MAX_IMAGE_PIXELS:,} pixels (the limit)")
    try:
        return data, decode_image(data)
    except tf.errors.InvalidArgumentError:
        raise UserError(f"{path}: not a readable PNG, JPEG, GIF or BMP image") from None


def decode_image(data):
    """Encoded image bytes -> uint8 [H, W, 3]; an animated GIF's first frame, as Pillow (the LiteRT
    host) reads it: TensorFlow's GIF decoder decodes every frame before it keeps the first, so the
    file is cut after its first image (300 frames of 2000 x 2000 took 18 s and 1.2 GB)."""
    is_gif = tf.equal(tf.strings.substr(data, 0, 4), b"GIF8")
    data = tf.cond(is_gif, lambda: first_gif_image(data), lambda: tf.identity(data))
    return tf.io.decode_image(data, channels=3, expand_animations=False)


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


def load_splits(cfg) -> tuple[Split, Split, Split]:
    """The training, validation and test images the options name (a caption `Config`): the
    --captions-file split by image, or generated scenes (separate seeds)."""
    seed = config_lib.data_seed(cfg)
    if cfg.captions_file:
        return split_captions_file(cfg.captions_file, cfg.image_size, seed)
    if cfg.scenes_train < 1 or cfg.scenes_eval < 1:
        raise UserError(
            f"need --scenes-train and --scenes-eval >= 1; got {cfg.scenes_train}, {cfg.scenes_eval}"
        )
    sizes = (cfg.scenes_train, cfg.scenes_eval, cfg.scenes_eval)
    made = [scenes.generate(n, seed + offset, cfg.image_size) for n, offset in zip(sizes, SPLIT_SEEDS)]
    return tuple(Split(s.images, s.captions, s.masks, s.shapes) for s in made)


class Vocabulary(TokenVocabulary):
    """Caption words: <start>, <end>, then the most frequent words (what vocab.json holds)."""

    @classmethod
    def from_captions(cls, captions, size: int) -> Vocabulary:
        return cls(TokenVocabulary.build(captions, "word", size, specials=[START, END]).words)

    def save(self, path):
        save_json(path, {"words": self.words})

    @classmethod
    def load(cls, path):
        return cls(load_json(path)["words"])


def caption_ids(captions, lookup) -> tf.RaggedTensor:
    """Strings [N] -> ragged ids <start> ... <end>."""
    return token_ids(tokenize(tf.constant(captions), "word", lowercase=True), lookup, START_ID, END_ID)


def references(split: Split) -> list[str]:
    """The captions as scores compare them: the words the model reads and writes, lowercased."""
    return normalized(split.captions, "word", lowercase=True)


def make_dataset(split: Split, lookup, cfg, name: str, shuffle: bool):
    """((image, caption input ids), caption output ids) batches, and the number of batches; `cfg`
    gives max_caption_len, batch_size, seed. Captions of over max_caption_len words are skipped."""
    ids = caption_ids(split.captions, lookup)
    keep = (ids.row_lengths() <= cfg.max_caption_len + 2).numpy()
    if not keep.any():
        raise UserError(
            f"the {name} split has no caption of at most --max-caption-len {cfg.max_caption_len} words"
        )
    if not keep.all():
        print(f"{name}: skipped {int((~keep).sum())} of {len(keep)} captions over --max-caption-len words")
    ids = tf.ragged.boolean_mask(ids, keep).to_tensor()
    examples, count = ((split.images[keep], ids[:, :-1]), ids[:, 1:]), int(keep.sum())
    ds = passes_or_one(examples, count, cfg.seed, shuffle, lambda ds: ds.batch(cfg.batch_size))
    return ds, -(-count // cfg.batch_size)


def declared_pixels(data):
    """Width x height an encoded image declares in its header (PNG, JPEG, GIF, BMP; 0 for anything
    else, which decoding then refuses), read without decoding: a tiny file can declare a
    20000 x 20000 image, so servers check this first (keras_rnn.limits). A GIF counts the canvas
    its first frame needs (the one frame decoded: `decode_image`)."""
    data = tf.strings.join([data, tf.constant(b"\0" * 32)])  # short files: read zeros, not past the end

    def number(position, length, big_endian):
        raw = tf.cast(tf.io.decode_raw(tf.strings.substr(data, position, length), tf.uint8), tf.int64)
        raw = raw if big_endian else tf.reverse(raw, [0])
        return tf.reduce_sum(raw * 256 ** tf.range(length - 1, -1, -1, dtype=tf.int64))

    head = tf.strings.substr(data, 0, 8)
    png = number(16, 4, True) * number(20, 4, True)
    height = tf.abs(tf.bitcast(tf.cast(number(22, 4, False), tf.uint32), tf.int32))  # negative: top-down
    bmp = number(18, 4, False) * tf.cast(height, tf.int64)

    def jpeg():
        shape = tf.cast(tf.io.extract_jpeg_shape(data), tf.int64)
        return shape[0] * shape[1]

    return tf.case(
        [
            (tf.equal(head, b"\x89PNG\r\n\x1a\n"), lambda: png),
            (tf.equal(tf.strings.substr(head, 0, 3), b"\xff\xd8\xff"), jpeg),
            (tf.equal(tf.strings.substr(head, 0, 4), b"GIF8"), lambda: tf.reduce_prod(gif_canvas(data)[1:])),
            (tf.equal(tf.strings.substr(head, 0, 2), b"BM"), lambda: bmp),
        ],
        default=lambda: tf.constant(0, tf.int64),
    )


GIF_BLOCK, GIF_EXTENSION, GIF_IMAGE, GIF_DONE, GIF_BROKEN = range(5)  # where gif_canvas's walk is


def gif_canvas(data):
    """(end, width, height) of a GIF's first image, read from its block structure without decoding:
    the offset after its last data sub-block (0 where the file is not a GIF well-formed up to there),
    and the canvas it needs: the logical screen, widened where the image lies outside it (as Pillow
    sizes it). One loop step per block or 255-byte sub-block."""
    raw = tf.cast(tf.io.decode_raw(tf.strings.join([data, tf.constant(b"\0" * 16)]), tf.uint8), tf.int64)
    size = tf.cast(tf.strings.length(data), tf.int64)
    at = {stage: tf.constant(stage, tf.int64) for stage in range(5)}

    def word(i):  # little-endian 16 bits
        return raw[i] + 256 * raw[i + 1]

    def colour_table(flags):  # bytes of the colour table that a descriptor's flags announce
        return tf.where(flags >= 128, 3 * 2 ** (flags % 8 + 1), tf.constant(0, tf.int64))

    def step(pos, stage, width, height):
        byte = raw[pos]
        in_data = (stage == GIF_EXTENSION) | (stage == GIF_IMAGE)
        extension = (stage == GIF_BLOCK) & (byte == 0x21)  # label byte, then sub-blocks
        image = (stage == GIF_BLOCK) & (byte == 0x2C)  # 9 descriptor bytes, colours, LZW size, sub-blocks
        data_end = in_data & (byte == 0)
        next_pos = tf.where(
            extension, pos + 2, tf.where(image, pos + 11 + colour_table(raw[pos + 9]), pos + byte + 1)
        )
        after_data = tf.where(stage == GIF_IMAGE, at[GIF_DONE], at[GIF_BLOCK])
        next_stage = tf.where(
            extension,
            at[GIF_EXTENSION],
            tf.where(
                image, at[GIF_IMAGE], tf.where(data_end, after_data, tf.where(in_data, stage, at[GIF_BROKEN]))
            ),
        )
        width = tf.where(image, tf.maximum(width, word(pos + 1) + word(pos + 5)), width)
        height = tf.where(image, tf.maximum(height, word(pos + 3) + word(pos + 7)), height)
        return tf.where(data_end, pos + 1, next_pos), next_stage, width, height

    pos, stage, width, height = tf.while_loop(
        lambda pos, stage, width, height: (pos < size) & (stage < GIF_DONE),
        step,
        (13 + colour_table(raw[10]), at[GIF_BLOCK], word(6), word(8)),
    )
    return tf.where(stage == GIF_DONE, pos, 0), width, height


def first_gif_image(data):
    """A GIF cut after its first image and closed with the trailer (its signature only, which the
    decoder refuses, where the file breaks off before its first image ends)."""
    end, _, _ = gif_canvas(data)
    cut = tf.strings.substr(data, tf.constant(0, tf.int64), tf.maximum(end, 6))
    return tf.strings.join([cut, tf.constant(b";")])
