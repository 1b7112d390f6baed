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
            "targets_right": int(sum(VOCAB[p] == c for p, c in zip(predicted, "ello"))),
            "greedy_from_h": greedy(model),
        }
        if recurrent:
            states = keras.Model(model.input, model.get_layer("rnn").output).predict(
                one_hot("hell"), verbose=0
            )[0]
            results[name]["hidden_states"] = states.round(4).tolist()
    draw(table, np.array(results["elman"]["hidden_states"]), out / "hello.png")
    e, m = results["elman"], results["memoryless"]
    print(
        f"slide table: rounding differs in rows {[r['step'] for r in table['rows'] if r['slide_rounding_differs']]}"
    )
    print(f"Elman RNN ({args.units} units): loss {e['final_loss']:.4f} after {e['epochs']} epochs", end="")
    print(f", 'h' -> {e['greedy_from_h']!r}")
    print(f"memoryless: {m['targets_right']} of 4 targets right, 'h' -> {m['greedy_from_h']!r}")
    return results


def draw(table: dict, states: np.ndarray, path) -> None:
    from keras_rnn.plots import plt, save_figure

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6), gridspec_kw={"width_ratios": [3, 2]})
    left.axis("off")
    cells = [
        [
            f"{c}→{t}",
            " ".join(f"{s:+.1f}" for s in row["scores"]),
            " ".join(f"{p:.2f}" for p in row["softmax"]),
        ]
        for c, t, row in zip("hell", "ello", table["rows"])
    ]
    left.table(cellText=cells, colLabels=["step", "scores (h e l o)", "softmax"], loc="center").scale(1, 1.6)
    left.set_title("the slide's output scores")
    image = right.imshow(states.T, cmap="coolwarm", vmin=-1, vmax=1, aspect="auto")
    right.set_xticks(range(4), list("hell"))
    right.set_yticks(range(states.shape[1]))
    right.set_xlabel("input character")
    right.set_ylabel("hidden unit")
    right.set_title("trained Elman RNN: hidden state")
    fig.colorbar(image, ax=right)
    save_figure(fig, path)
