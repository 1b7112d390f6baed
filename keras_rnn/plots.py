"""PNG plots a person can look at: training curves, series, attention maps."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display needed
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402


def save_figure(fig, png_path) -> None:
    """Lay out, write as PNG, close."""
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)


def read_history_csv(csv_path) -> dict:
    """A Keras CSVLogger file as {column: [value per epoch]} (epochs counted from 1). Without
    validation data the logger still writes `val_` columns, all "NA": they are left out."""
    path = Path(csv_path)
    rows = list(csv.DictReader(path.open())) if path.exists() else []
    columns = [k for k in (rows[0] if rows else {}) if any(r[k] != "NA" for r in rows)]
    return {k: [float(r[k]) + (k == "epoch") for r in rows] for k in columns}


def plot_history_csv(csv_path, png_path, title: str = "", ylabel: str = "loss") -> None:
    """Loss (and val_loss) per epoch from a Keras CSVLogger file."""
    history = read_history_csv(csv_path)
    if not history:
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label in (("loss", "train"), ("val_loss", "validation")):
        if key in history:
            ax.plot(history["epoch"], history[key], marker="o", label=label)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    save_figure(fig, png_path)


def plot_panels(png_path, panels: list[tuple[str, dict]], title: str = "") -> None:
    """Stacked line plots sharing the x axis: `panels` is [(panel title, {label: values})]."""
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 2.6 * len(panels)), squeeze=False)
    for ax, (name, lines) in zip(axes[:, 0], panels):
        for label, values in lines.items():
            ax.plot(values, label=label, linewidth=1)
        ax.set_title(name, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper right", fontsize=8)
    axes[-1, 0].set_xlabel("time step")
    fig.suptitle(title)
    save_figure(fig, png_path)


def plot_attention(
    png_path, weights, source_tokens: list[str], target_tokens: list[str], title: str = ""
) -> None:
    """Alignment heat-map: one row per output token, one column per source token."""
    fig, ax = plt.subplots(
        figsize=(max(4, 0.35 * len(source_tokens) + 2), max(3, 0.35 * len(target_tokens) + 1.5))
    )
    ax.imshow(weights, cmap="Greys", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(source_tokens)), [t if t.strip() else "␣" for t in source_tokens], rotation=90)
    ax.set_yticks(range(len(target_tokens)), [t if t.strip() else "␣" for t in target_tokens])
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    ax.set_title(title, fontsize=9)
    save_figure(fig, png_path)


def plot_image_attention(png_path, image, words: list[str], maps, title: str = "") -> None:
    """The image, then one panel per generated word with its attention (a grid, [words, g, g])
    stretched over the image."""
    fig, axes = plt.subplots(1, len(words) + 1, figsize=(1.6 * (len(words) + 1), 2.2), squeeze=False)
    axes = axes[0]
    axes[0].imshow(image)
    axes[0].set_title("image", fontsize=8)
    extent = (0, image.shape[1], image.shape[0], 0)
    for ax, word, weights in zip(axes[1:], words, maps):
        ax.imshow(image, extent=extent)
        ax.imshow(weights, cmap="magma", alpha=0.6, extent=extent, interpolation="nearest")
        ax.set_title(word, fontsize=8)
    for ax in axes:
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    save_figure(fig, png_path)
