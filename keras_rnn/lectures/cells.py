"""cells: the lectures' recurrent cells side by side, on the same character-level task.

Every cell of `keras_rnn.layers.cells` (the slides' LSTM and both GRU conventions, peephole
and coupled-gate LSTMs, MUT1-3, the factored multiplicative RNN) and Keras' own SimpleRNN,
LSTM and GRU, each in the same small char-LM, the one `train.py --task charlm --cell NAME`
trains: an embedding of `--units` (MUT1 and MUT2 add the input to hidden-size vectors, so
it must be that wide), one recurrent layer, a softmax over the characters. Trained with
`model.fit` on the same batches of the char-LM's corpus (default: its offline Python-source
corpus; `--text-file` for another), Adam, the same number of steps; the validation loss in
bits per character after every `--eval-every` steps.
"""

from __future__ import annotations

import dataclasses
import math

from keras_rnn import UserError
from keras_rnn.layers.cells import CELL_ALIASES


def add_arguments(parser) -> None:
    parser.add_argument("--text-file", help="a UTF-8 text (default: the char-LM's offline corpus)")
    parser.add_argument("--max-chars", type=int, default=1_000_000, help="characters of the corpus used")
    parser.add_argument("--units", type=int, default=64)
    parser.add_argument("--factors", type=int, default=64, help="factors of the multiplicative RNN")
    parser.add_argument("--steps", type=int, default=300, help="training batches per cell")
    parser.add_argument("--eval-every", type=int, default=100, help="batches between validation losses")
    parser.add_argument("--seq-len", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=0.005)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--cells",
        default="",
        help="the --cell names to compare, comma-separated (default: all twelve; "
        + ", ".join(f"{old} = {new}" for old, new in CELL_ALIASES.items())
        + ")",
    )


FIXED = {
    "layers": 1,
    "embedding_dim": "= units",
    "optimizer": "Adam",
    "clipnorm": 1.0,
    "validation_batches": 20,
}

# label in the results -> the char-LM's `--cell` name
CELLS = {
    "Keras SimpleRNN (Elman)": "rnn",
    "Keras LSTM": "lstm",
    "Keras GRU": "gru",
    "slides' LSTM (i, f, o, g)": "slides-lstm",
    "GRU, z keeps the old: h' = z h + (1-z) h~": "gru-z-keep",
    "GRU, z takes the new: h' = (1-z) h + z h~": "gru-z-new",
    "peephole LSTM": "peephole-lstm",
    "coupled-gate LSTM": "coupled-lstm",
    "MUT1": "mut1",
    "MUT2": "mut2",
    "MUT3": "mut3",
    "multiplicative RNN": "mrnn",
}


def run(args, out) -> dict:
    sizes = ("units", "factors", "steps", "eval_every", "seq_len", "batch_size", "max_chars")
    if any(getattr(args, name) < 1 for name in sizes) or args.learning_rate <= 0:
        raise UserError(
            "need --units, --factors, --steps, --eval-every, --seq-len, --batch-size, --max-chars >= 1"
        )
    asked = [CELL_ALIASES.get(name, name) for name in args.cells.split(",") if name]
    chosen = {name: cell for name, cell in CELLS.items() if cell in asked or not asked}
    unknown = set(asked) - set(CELLS.values())
    if unknown or not chosen:
        raise UserError(f"--cells: choose among {', '.join(CELLS.values())}, got {args.cells!r}")
    import keras

    from keras_rnn.data.text import CharVocabulary
    from keras_rnn.tasks import charlm

    cfg = charlm.Config(
        text_file=args.text_file,
        max_chars=args.max_chars,
        seq_len=args.seq_len,
        batch_size=args.batch_size,
        seed=args.seed,
        validation_batches=20,
    )
    train_text, val_text = charlm.load_corpus(cfg)
    vocab = CharVocabulary.from_text(train_text)
    train, _, validation, _ = charlm.make_datasets(cfg, vocab.encode(train_text), vocab.encode(val_text))
    curves, results = {}, {"characters": len(train_text) + len(val_text), "vocabulary": vocab.size}
    for name, cell in chosen.items():
        keras.utils.set_random_seed(args.seed)
        sizes = dict(units=args.units, layers=1, embedding_dim=args.units, factors=args.factors)
        model = charlm.build_model(dataclasses.replace(cfg, cell=cell, **sizes), vocab.size)
        model.compile(
            keras.optimizers.Adam(args.learning_rate, clipnorm=1.0),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        before = model.evaluate(validation, verbose=0)  # batch 0: the untrained model
        history = model.fit(
            train,
            validation_data=validation,
            steps_per_epoch=args.eval_every,
            epochs=max(1, args.steps // args.eval_every),
            shuffle=False,  # the dataset is shuffled (seeded), the same batches for every cell
            verbose=0,
        ).history
        curves[name] = [loss / math.log(2) for loss in [before, *history["val_loss"]]]
        results[name] = {
            "cell": cell,
            "parameters": model.count_params(),
            "val_bits_per_char": curves[name][-1],
        }
        print(f"{name:34} {model.count_params():>8,} weights  validation {curves[name][-1]:.3f} bits/char")
    draw(curves, args, out / "cells.png")
    return results


# twelve curves told apart in print: each its own line style and marker, colours colour-blind safe
STYLES = [(ls, m) for ls in ("-", "--", ":") for m in ("o", "s", "^", "D")]


def draw(curves: dict, args, path) -> None:
    """Left: every validation curve from batch 0; right: where each ended, its value written."""
    from keras_rnn.plots import plt, save_figure

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.5), gridspec_kw={"width_ratios": [3, 2]})
    colours = plt.get_cmap("tab10").colors
    for i, (name, losses) in enumerate(curves.items()):
        steps = [args.eval_every * j for j in range(len(losses))]
        line, marker = STYLES[i % len(STYLES)]
        left.plot(steps, losses, linestyle=line, marker=marker, color=colours[i % 10], label=name)
    left.set_xlabel("training batches (0: untrained)")
    left.set_ylabel("validation loss (bits per character)")
    left.set_title(f"the lectures' cells, {args.units} units, the same batches", fontsize=10)
    left.grid(alpha=0.3)
    left.legend(fontsize=7)
    final = sorted(((losses[-1], name) for name, losses in curves.items()), reverse=True)
    bars = right.barh(
        [name for _, name in final], [value for value, _ in final], color="0.75", edgecolor="black"
    )
    right.bar_label(bars, fmt="%.3f", padding=3, fontsize=8)
    right.set_xlim(0, max(value for value, _ in final) * 1.15)
    right.tick_params(axis="y", labelsize=8)
    right.set_xlabel(f"bits per character after {args.eval_every * (len(losses) - 1)} batches")
    right.set_title("where each cell ended (lower is better)", fontsize=10)
    save_figure(fig, path)
