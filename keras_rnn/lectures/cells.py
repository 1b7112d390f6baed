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


# label in the results -> the char-LM's `--cell` name
CELLS = {
    "Keras SimpleRNN (Elman)": "rnn",
    "Keras LSTM": "lstm",
    "Keras GRU": "gru",
    "slides' LSTM (i, f, o, g)": "slides-lstm",
    "slides' GRU, h' = (1-z)h + z h~": "slides-gru",
    "slides' GRU, h' = z h + (1-z) h~": "slides-gru-keep",
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
    for name, cell in CELLS.items():
        keras.utils.set_random_seed(args.seed)
        sizes = dict(units=args.units, layers=1, embedding_dim=args.units, factors=args.factors)
        model = charlm.build_model(dataclasses.replace(cfg, cell=cell, **sizes), vocab.size)
        model.compile(
            keras.optimizers.Adam(args.learning_rate, clipnorm=1.0),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        history = model.fit(
            train,
            validation_data=validation,
            steps_per_epoch=args.eval_every,
            epochs=max(1, args.steps // args.eval_every),
            shuffle=False,  # the dataset is shuffled (seeded), the same batches for every cell
            verbose=0,
        ).history
        curves[name] = [loss / math.log(2) for loss in history["val_loss"]]
        results[name] = {
            "cell": cell,
            "parameters": model.count_params(),
            "val_bits_per_char": curves[name][-1],
        }
        print(f"{name:34} {model.count_params():>8,} weights  validation {curves[name][-1]:.3f} bits/char")
    draw(curves, args, out / "cells.png")
    return results


def draw(curves: dict, args, path) -> None:
    from keras_rnn.plots import plt, save_figure

    fig, axis = plt.subplots(figsize=(8, 5))
    for i, (name, losses) in enumerate(curves.items()):
        steps = [args.eval_every * (j + 1) for j in range(len(losses))]
        style = "o-" if name.startswith("Keras") else ".-"
        axis.plot(steps, losses, style, color=plt.get_cmap("tab20")(i), label=name)
    axis.set_xlabel("training batches")
    axis.set_ylabel("validation loss (bits per character)")
    axis.set_title(f"the lectures' cells, {args.units} units, same batches")
    axis.legend(fontsize=7)
    save_figure(fig, path)
