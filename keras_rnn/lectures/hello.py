"""hello: the slides' character-level RNN on the word "hello".

Vocabulary [h, e, l, o], one-hot inputs "hell", targets "ello". (a) The slide's output scores
for the four steps and their softmax, checked against the table the slide prints (its rounding
is reported where it disagrees). (b) An Elman RNN with 3 hidden units, trained with `model.fit`,
drives the loss to about 0 and, fed its own output from "h", writes "ello". A memoryless
model of the same size (the same layers without the recurrence) cannot: after "l" it must say
"l" once and "o" once, so it gets at most 3 of the 4 targets right.
"""

from __future__ import annotations

import numpy as np

from keras_rnn import UserError

VOCAB = ["h", "e", "l", "o"]
SLIDE_SCORES = [[1.0, 2.2, -3.0, 4.1], [0.5, 0.3, -1.0, 1.2], [0.1, 0.5, 1.9, -1.1], [0.2, -1.5, -0.1, 2.2]]
SLIDE_SOFTMAX = [
    [0.03, 0.13, 0.00, 0.84],
    [0.25, 0.20, 0.05, 0.50],
    [0.11, 0.17, 0.68, 0.03],
    [0.11, 0.02, 0.08, 0.79],
]


FIXED = {"optimizer": "Adam", "stop_below_loss": 0.01, "sequence": "hell -> ello, one per epoch"}


def add_arguments(parser) -> None:
    parser.add_argument("--units", type=int, default=3, help="hidden units (the slide: 3)")
    parser.add_argument("--epochs", type=int, default=500, help="most training epochs (one sequence each)")
    parser.add_argument("--learning-rate", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)


def softmax(scores) -> np.ndarray:
    scores = np.asarray(scores, np.float64)
    exp = np.exp(scores - scores.max(-1, keepdims=True))
    return exp / exp.sum(-1, keepdims=True)


def slide_table() -> dict:
    """The slide's scores, their softmax, and the rows where the slide's printed rounding differs."""
    probabilities = softmax(SLIDE_SCORES)
    rows = [
        {"step": i + 1, "scores": scores, "softmax": [round(p, 4) for p in probs], "slide": printed}
        for i, (scores, probs, printed) in enumerate(zip(SLIDE_SCORES, probabilities.tolist(), SLIDE_SOFTMAX))
    ]
    for row in rows:
        row["slide_rounding_differs"] = [
            VOCAB[j] for j, (p, s) in enumerate(zip(row["softmax"], row["slide"])) if round(p, 2) != s
        ]
    return {"input": "hell", "target": "ello", "rows": rows}


def build(units: int, recurrent: bool):
    import keras

    inputs = keras.Input((None, len(VOCAB)), name="one_hot")
    if recurrent:
        hidden = keras.layers.SimpleRNN(units, return_sequences=True, name="rnn")(inputs)
    else:  # the same layers, each step on its own
        hidden = keras.layers.Dense(units, activation="tanh", name="memoryless")(inputs)
    scores = keras.layers.Dense(len(VOCAB), name="scores")(hidden)
    return keras.Model(inputs, scores, name="elman" if recurrent else "memoryless")


def one_hot(text: str) -> np.ndarray:
    return np.eye(len(VOCAB), dtype=np.float32)[[VOCAB.index(c) for c in text]][None]


def train(units: int, recurrent: bool, epochs: int, learning_rate: float) -> tuple:
    """(model, loss per epoch): model.fit on the one sequence, stopped once the loss is near 0."""
    import keras

    model = build(units, recurrent)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    x, y = one_hot("hell"), np.array([[VOCAB.index(c) for c in "ello"]])
    done = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: setattr(model, "stop_training", logs["loss"] < 0.01)
    )
    history = model.fit(x, y, epochs=epochs, verbose=0, callbacks=[done])
    return model, history.history["loss"]


def greedy(model, start: str = "h", length: int = 4) -> str:
    """Feed the model its own most likely character, from `start`."""
    text = start
    for _ in range(length):
        scores = model.predict(one_hot(text), verbose=0)[0, -1]
        text += VOCAB[int(np.argmax(scores))]
    return text[len(start) :]


def run(args, out) -> dict:
    if args.units < 1 or args.epochs < 1 or not args.learning_rate > 0:
        raise UserError("need --units >= 1, --epochs >= 1 and --learning-rate > 0")
    import keras

    table = slide_table()
    results = {"slide": table}
    for recurrent in (True, False):
        keras.utils.set_random_seed(args.seed)
        model, losses = train(args.units, recurrent, args.epochs, args.learning_rate)
        predicted = np.argmax(model.predict(one_hot("hell"), verbose=0)[0], -1)
        name = "elman" if recurrent else "memoryless"
        results[name] = {
            "epochs": len(losses),
            "final_loss": losses[-1],
            "predicted": "".join(VOCAB[p] for p in predicted),  # each step's most likely next character
            "targets_right": int(sum(VOCAB[p] == c for p, c in zip(predicted, "ello"))),
            "greedy_from_h": greedy(model),
        }
        if recurrent:
            states = keras.Model(model.input, model.get_layer("rnn").output).predict(
                one_hot("hell"), verbose=0
            )[0]
            results[name]["hidden_states"] = states.round(4).tolist()
    draw(table, results, out / "hello.png")
    e, m = results["elman"], results["memoryless"]
    print(
        f"slide table: rounding differs in rows {[r['step'] for r in table['rows'] if r['slide_rounding_differs']]}"
    )
    print(f"Elman RNN ({args.units} units): loss {e['final_loss']:.4f} after {e['epochs']} epochs", end="")
    print(f", 'h' -> {e['greedy_from_h']!r}")
    print(f"memoryless: {m['targets_right']} of 4 targets right, 'h' -> {m['greedy_from_h']!r}")
    return results


def draw(table: dict, results: dict, path) -> None:
    """The slide's table (its printed softmax beside the computed one, the truncated entries
    marked), the trained RNN's hidden states, and what the RNN and the memoryless model say."""
    from keras_rnn.plots import plt, save_figure

    fig, (left, middle, right) = plt.subplots(
        1, 3, figsize=(14, 3.8), gridspec_kw={"width_ratios": [5, 2, 3]}
    )
    left.axis("off")
    cells, marked = [], []
    for r, (c, t, row) in enumerate(zip("hell", "ello", table["rows"])):
        differs = set(row["slide_rounding_differs"])
        computed = [f"{p:.2f}" + ("*" if v in differs else "") for v, p in zip(VOCAB, row["softmax"])]
        printed = [f"{p:.2f}" + ("*" if v in differs else "") for v, p in zip(VOCAB, row["slide"])]
        cells.append(
            [f"{c}→{t}", " ".join(f"{s:+.1f}" for s in row["scores"]), " ".join(computed), " ".join(printed)]
        )
        marked += [(r + 1, 2), (r + 1, 3)] if differs else []
    labels = ["step", "scores (h e l o)", "softmax, rounded", "the slide prints"]
    shown = left.table(cellText=cells, colLabels=labels, loc="center", colWidths=[0.12, 0.3, 0.29, 0.29])
    shown.auto_set_font_size(False)
    shown.set_fontsize(9)
    shown.scale(1, 1.7)
    for key in marked:
        shown[key].set_facecolor("#e0e0e0")  # grey prints: the rows with a truncated entry
    notes = [
        f"step {row['step']}: {VOCAB[j]} = {row['softmax'][j]:.4f}, printed {row['slide'][j]:.2f}"
        for row in table["rows"]
        for j, v in enumerate(VOCAB)
        if v in row["slide_rounding_differs"]
    ]
    left.set_title("the slide's output scores and their softmax", fontsize=10)
    left.text(
        0.5,
        0.02,
        "* truncated, not rounded, on the slide: " + "; ".join(notes),
        ha="center",
        fontsize=8,
        transform=left.transAxes,
    )
    states = np.array(results["elman"]["hidden_states"])
    image = middle.imshow(states.T, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    for (step, unit), value in np.ndenumerate(states):
        shade = "white" if abs(value) > 0.5 else "black"
        middle.text(step, unit, f"{value:+.2f}", ha="center", va="center", fontsize=8, color=shade)
    middle.set_xticks(range(4), list("hell"))
    middle.set_yticks(range(states.shape[1]))
    middle.set_xlabel("input character")
    middle.set_ylabel("hidden unit")
    middle.set_title("trained Elman RNN: hidden state", fontsize=10)
    fig.colorbar(image, ax=middle, label="tanh activation (−1 … +1)")
    right.axis("off")
    elman, memoryless = results["elman"], results["memoryless"]
    rows = [[c, t, p, q] for c, t, p, q in zip("hell", "ello", elman["predicted"], memoryless["predicted"])]
    rows.append(["from 'h'", "ello", elman["greedy_from_h"], memoryless["greedy_from_h"]])
    rows.append(["right", "4 of 4", f"{elman['targets_right']} of 4", f"{memoryless['targets_right']} of 4"])
    said = right.table(cellText=rows, colLabels=["input", "target", "Elman RNN", "memoryless"], loc="center")
    said.auto_set_font_size(False)
    said.set_fontsize(9)
    said.scale(1, 1.5)
    for r, row in enumerate(rows[:5]):
        for col in (2, 3):
            if row[col] != row[1]:
                said[r + 1, col].set_text_props(fontweight="bold", color="firebrick")
    right.set_title(
        "next character: with and without memory\n(wrong in bold red; 'from h': fed its own output)",
        fontsize=10,
    )
    save_figure(fig, path)
