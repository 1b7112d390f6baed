"""Synthetic captioned scenes: coloured shapes on a 3 x 3 grid, deterministic by seed.

Each image holds one or two objects (a shape in a colour, in its own grid cell,
with random size and offset) on a noisy background; its caption names them in
reading order: "a red circle at the top left and a blue square in the middle".
The masks of the objects come with it, so attention can be checked against
where the objects really are (GUIDE §5: attention localisation).
"""

from __future__ import annotations

import dataclasses

import numpy as np

SHAPES = ("circle", "square", "triangle")
COLOURS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (50, 80, 230), "yellow": (235, 205, 30)}
ROWS = ("top", "middle", "bottom")
COLUMNS = ("left", "center", "right")


@dataclasses.dataclass
class Scenes:
    images: np.ndarray  # uint8 [N, size, size, 3]
    captions: list[str]
    masks: np.ndarray  # bool [N, max_objects, size, size]; all False for a missing object
    shapes: list[list[str]]  # the shape word of each object, in caption order


def place(row: int, column: int) -> str:
    if (row, column) == (1, 1):
        return "in the middle"
    if row == 1:
        return f"at the middle {COLUMNS[column]}"
    if column == 1:
        return f"at the {ROWS[row]} center"
    return f"at the {ROWS[row]} {COLUMNS[column]}"


def _mask(shape: str, size: int, cy: float, cx: float, r: float) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size] + 0.5
    if shape == "circle":
        return (y - cy) ** 2 + (x - cx) ** 2 <= r**2
    if shape == "square":
        return (np.abs(y - cy) <= r * 0.85) & (np.abs(x - cx) <= r * 0.85)
    top = cy - r  # triangle pointing up: widens from the apex to the base
    return (y >= top) & (y <= cy + r) & (np.abs(x - cx) <= (y - top) / 2)


def generate(n: int, seed: int, size: int = 64, max_objects: int = 2) -> Scenes:
    """`n` scenes of `size` x `size` pixels with 1 .. `max_objects` objects each."""
    rng = np.random.default_rng(seed)
    cell = size / 3
    images = np.empty((n, size, size, 3), np.uint8)
    masks = np.zeros((n, max_objects, size, size), bool)
    captions, shapes = [], []
    colours = list(COLOURS)
    for i in range(n):
        image = rng.normal(200, 12, (size, size, 1)).clip(0, 255) * np.ones((1, 1, 3))
        cells = sorted(rng.choice(9, rng.integers(1, max_objects + 1), replace=False))  # reading order
        words, kinds = [], []
        for j, c in enumerate(cells):
            row, column = divmod(int(c), 3)
            shape, colour = SHAPES[rng.integers(len(SHAPES))], colours[rng.integers(len(colours))]
            r = cell * rng.uniform(0.28, 0.42)
            cy, cx = (
                (row + 0.5 + rng.uniform(-0.1, 0.1)) * cell,
                (column + 0.5 + rng.uniform(-0.1, 0.1)) * cell,
            )
            mask = _mask(shape, size, cy, cx, r)
            image[mask] = COLOURS[colour]
            masks[i, j] = mask
            words.append(f"a {colour} {shape} {place(row, column)}")
            kinds.append(shape)
        images[i] = image.astype(np.uint8)
        captions.append(" and ".join(words))
        shapes.append(kinds)
    return Scenes(images, captions, masks, shapes)


def attention_localisation(masks, shapes, outs, grid: int) -> float | None:
    """Share of generated shape words (circle, square, triangle) whose attention peak lies on
    an object of that shape in the image (GUIDE §5). None without masks or attention."""
    if masks is None:
        return None
    size = masks.shape[-1]
    cell = size // grid
    hits = total = 0
    i = 0
    for out in outs:
        tokens, attention = out["tokens"].numpy(), out["attention"].numpy()
        for row in range(tokens.shape[0]):
            for t, word in enumerate(tokens[row]):
                word = word.decode("utf-8")
                if word not in SHAPES or not attention[row, t].any():
                    continue
                peak = int(np.argmax(attention[row, t]))
                y, x = divmod(peak, grid)
                patch = masks[i][:, y * cell : (y + 1) * cell, x * cell : (x + 1) * cell].any(axis=(1, 2))
                total += 1
                hits += any(p and s == word for p, s in zip(patch, shapes[i]))
            i += 1
    return hits / total if total else None


def example_png(size: int, seed: int = 7) -> str:
    """A generated scene as base64 PNG: the body of an example REST request."""
    import base64

    import tensorflow as tf

    return base64.b64encode(tf.io.encode_png(generate(1, seed, size).images[0]).numpy()).decode("ascii")
