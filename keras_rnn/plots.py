"""PNG plots a person can look at: training curves (more per task as they come)."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display needed
import matplotlib.pyplot as plt  # noqa: E402


def plot_history_csv(csv_path, png_path, title: str = "") -> None:
    """Loss (and val_loss) per epoch from a Keras CSVLogger file."""
    rows = list(csv.DictReader(Path(csv_path).open()))
    if not rows:
        return
    epochs = [int(r["epoch"]) + 1 for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label in (("loss", "train"), ("val_loss", "validation")):
        if key in rows[0]:
            ax.plot(epochs, [float(r[key]) for r in rows], marker="o", label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (nats per token)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)


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
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
