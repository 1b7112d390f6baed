"""binary-addition: the lecture's recurrent adder against a feed-forward one.

Two operands are fed one bit pair per step, least-significant bit first; the network says one
bit of the sum per step: `h_i = sigm(W [a_i, b_i] + W_hh h_{i-1})`, `d_i = sigm(W_out h_i)`
(a `SimpleRNN` with sigmoid units, then a sigmoid `Dense`), trained with `model.fit` on a few
hundred pairs of `--bits`-bit numbers. It learns the carry, a rule that does not depend on the
length, so it adds 32-bit numbers it never saw. A feed-forward net given all the bits at once
(same training pairs) has to learn each bit position separately: it generalises worse to
unseen pairs of the same size and cannot take longer numbers at all.
"""

from __future__ import annotations

import numpy as np

from keras_rnn import UserError


def add_arguments(parser) -> None:
    parser.add_argument("--bits", type=int, default=8, help="operand size while training")
    parser.add_argument("--train-pairs", type=int, default=500, help="training pairs (of 2^(2 bits))")
    parser.add_argument("--units", type=int, default=8, help="hidden units of both networks")
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--test-bits", type=int, default=32, help="operand size of the long test")
    parser.add_argument("--seed", type=int, default=0)


FIXED = {"optimizer": "Adam", "learning_rate": 0.01, "batch_size": 32, "loss": "binary cross-entropy"}


def bits(numbers: np.ndarray, length: int) -> np.ndarray:
    """Integers [N] -> their `length` bits, least significant first [N, length]."""
    return ((numbers[:, None] >> np.arange(length)) & 1).astype(np.float32)


def sequences(a: np.ndarray, b: np.ndarray, size: int):
    """Operands of `size` bits -> inputs [N, size + 1, 2] and sum bits [N, size + 1, 1] (one more
    step for the last carry)."""
    x = np.stack([bits(a, size + 1), bits(b, size + 1)], -1)
    return x, bits(a + b, size + 1)[..., None]


def as_int(bit_rows: np.ndarray) -> np.ndarray:
    """Bits, least significant first [N, L] -> integers [N] (Python ints: 33 bits fit)."""
    return np.array([int("".join(str(int(b)) for b in row[::-1]), 2) for row in bit_rows], dtype=object)


def recurrent_adder(units: int):
    import keras

    inputs = keras.Input((None, 2), name="bit_pairs")
    hidden = keras.layers.SimpleRNN(units, activation="sigmoid", return_sequences=True, name="rnn")(inputs)
    return keras.Model(
        inputs, keras.layers.Dense(1, activation="sigmoid", name="sum_bit")(hidden), name="rnn"
    )


def feedforward_adder(units: int, size: int):
    import keras

    inputs = keras.Input((2 * (size + 1),), name="all_bits")
    hidden = keras.layers.Dense(units * (size + 1), activation="sigmoid", name="hidden")(inputs)
    outputs = keras.layers.Dense(size + 1, activation="sigmoid", name="sum_bits")(hidden)
    return keras.Model(inputs, outputs, name="feedforward")


def run(args, out) -> dict:
    if not 2 <= args.bits <= 16 or not 1 <= args.train_pairs <= 4**args.bits // 2:
        raise UserError("need 2 <= --bits <= 16 and 1 <= --train-pairs <= half of all pairs (4^bits / 2)")
    if args.units < 1 or args.epochs < 1 or not args.bits <= args.test_bits <= 62:
        raise UserError("need --units >= 1, --epochs >= 1 and --bits <= --test-bits <= 62")
    import keras

    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    pairs = rng.permutation(4**args.bits)[: 2 * args.train_pairs]  # pair index = a * 2^bits + b
    a, b = pairs // 2**args.bits, pairs % 2**args.bits
    (train_a, test_a), (train_b, test_b) = np.split(a, 2), np.split(b, 2)  # unseen pairs to test on
    x, y = sequences(train_a, train_b, args.bits)
    test_x, test_y = sequences(test_a, test_b, args.bits)
    long_a, long_b = (rng.integers(0, 2**args.test_bits, 1000, dtype=np.int64) for _ in range(2))
    long_x, long_y = sequences(long_a, long_b, args.test_bits)

    def exact(predicted, target) -> float:  # share of sums right in every bit
        return float(np.mean(np.all((predicted > 0.5) == (target > 0.5), axis=tuple(range(1, target.ndim)))))

    results = {"bits": args.bits, "train_pairs": args.train_pairs, "unseen_pairs": len(test_a)}
    curves = {}
    for name, model, (inputs, test_inputs) in [
        ("rnn", recurrent_adder(args.units), (x, test_x)),
        (
            "feedforward",
            feedforward_adder(args.units, args.bits),
            (x.reshape(len(x), -1), test_x.reshape(len(test_x), -1)),
        ),
    ]:
        target, test_target = (y, test_y) if name == "rnn" else (y[..., 0], test_y[..., 0])
        model.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy")
        history = model.fit(inputs, target, batch_size=32, epochs=args.epochs, verbose=0)
        curves[name] = history.history["loss"]
        results[name] = {
            "parameters": model.count_params(),
            "final_loss": curves[name][-1],
            "train_exact": exact(model.predict(inputs, verbose=0), target),
            "unseen_exact": exact(model.predict(test_inputs, verbose=0), test_target),
        }
        if name == "rnn":
            results[name][f"exact_{args.test_bits}_bit"] = exact(model.predict(long_x, verbose=0), long_y)
            sums = as_int(model.predict(long_x[:3], verbose=0)[..., 0] > 0.5)
            results[name]["examples"] = [f"{p} + {q} = {s}" for p, q, s in zip(long_a[:3], long_b[:3], sums)]
    draw(curves, results, args, out / "binary_addition.png")
    r, f = results["rnn"], results["feedforward"]
    print(
        f"RNN ({r['parameters']} weights): unseen {args.bits}-bit pairs {r['unseen_exact']:.1%} exact, "
        f"{args.test_bits}-bit {r[f'exact_{args.test_bits}_bit']:.1%}; e.g. {r['examples'][0]}"
    )
    print(
        f"feed-forward ({f['parameters']} weights): unseen {args.bits}-bit pairs {f['unseen_exact']:.1%} exact "
        f"(training pairs {f['train_exact']:.1%}); cannot take {args.test_bits}-bit numbers"
    )
    return results


def draw(curves: dict, results: dict, args, path) -> None:
    from keras_rnn.plots import plt, save_figure

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    for (name, losses), style in zip(curves.items(), ("-", "--")):
        left.plot(range(1, len(losses) + 1), losses, linestyle=style, color="black", label=name)
    left.set_yscale("log")
    left.set_xlabel("epoch")
    left.set_ylabel("training loss (binary cross-entropy)")
    left.legend()
    bars = {
        f"RNN, unseen {args.bits}-bit": results["rnn"]["unseen_exact"],
        f"RNN, {args.test_bits}-bit": results["rnn"][f"exact_{args.test_bits}_bit"],
        f"feed-forward, unseen {args.bits}-bit": results["feedforward"]["unseen_exact"],
    }
    shown = right.barh(
        list(bars), [100 * v for v in bars.values()], color=["0.35", "0.35", "0.8"], edgecolor="black"
    )
    right.bar_label(shown, fmt="%.1f%%", padding=3)
    right.set_xlim(0, 115)
    right.set_xlabel("sums right in every bit (%)")
    right.set_title(f"trained on {args.train_pairs} pairs of {args.bits}-bit numbers")
    save_figure(fig, path)
