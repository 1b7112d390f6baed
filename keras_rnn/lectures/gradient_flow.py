"""gradient-flow: how ‖∂h_T/∂h_0‖ vanishes or explodes with T, and what keeps it in range.

The Jacobian of the state after T steps with respect to the first state is the product of the
T one-step Jacobians (computed here with `tf.GradientTape`, step by step, on random inputs):
- a **linear** RNN `h_t = W h_{t-1} + U x_t` with `W = s Q` (Q orthogonal): exactly `s^T`,
  shrinking for s < 1, growing for s > 1 (the exact line is drawn beside the measured one);
- an **Elman** RNN (tanh) with recurrent weights of largest singular value 0.5, 1.0, 1.5:
  tanh's slope below 1 makes even s = 1.0 vanish, and s = 1.5 grows only while the units stay
  out of saturation;
- an **LSTM** (Keras' `LSTMCell`, forget-gate bias 1): the cell state's additive path keeps the
  gradient far longer;
- **clipping by norm** (`tf.clip_by_norm`, the `--clipnorm` of training): a gradient of the
  exploding linear RNN rescaled to norm `--clip`, its direction unchanged.

And what it means for learning, the adding problem (Hochreiter & Schmidhuber 1997): each of T
steps carries a random number in [0, 1) and a marker; one marked step falls in the first half,
one in the second, and at the end the network must output the sum of the two marked numbers.
The first marker is on average 3T/4 steps back, so the gradient that would teach the network to
keep it has to flow that far. Elman (tanh), LSTM and GRU layers of the same size are trained on
it with `model.fit` for each T of `--range-steps`; mean squared error on fresh sequences
against T, beside the error of always answering 1 (the sum's variance, 1/6): a network that
has not learned to remember stays at that line.
"""

from __future__ import annotations

import numpy as np

from keras_rnn import UserError

FIXED = {
    "input_features": 8,
    "adding_problem": "Adam 0.01, clipnorm 1, 2,000 training and 1,000 test sequences, batch 50",
}


def add_arguments(parser) -> None:
    parser.add_argument("--units", type=int, default=32)
    parser.add_argument("--steps", type=int, default=100, help="the longest T")
    parser.add_argument("--clip", type=float, default=1.0, help="the norm gradients are clipped to")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--range-steps",
        default="10,20,50,100",
        help="the adding problem's T values, comma-separated ('' = skip it)",
    )
    parser.add_argument("--range-units", type=int, default=16, help="units of each adding-problem network")
    parser.add_argument("--range-epochs", type=int, default=20)


def scaled_orthogonal(units: int, scale: float, rng) -> np.ndarray:
    """`scale` times a random orthogonal matrix: every singular value is `scale`."""
    q, _ = np.linalg.qr(rng.normal(size=(units, units)))
    return (scale * q).astype(np.float32)


def jacobian_norms(step, state, inputs) -> list[float]:
    """‖∂h_t/∂h_0‖₂ for t = 1..T: `step(state, x) -> state` over `inputs` [T, F], the one-step
    Jacobians multiplied up as the state moves on."""
    import tensorflow as tf

    product, norms = np.eye(state.shape[-1], dtype=np.float64), []
    for x in inputs:
        with tf.GradientTape() as tape:
            tape.watch(state)
            new = step(state, tf.constant(x[None]))
        one_step = tape.batch_jacobian(new, state)[0].numpy().astype(np.float64)
        product, state = one_step @ product, new
        norms.append(float(np.linalg.norm(product, 2)))
    return norms


def elman_step(w: np.ndarray, u: np.ndarray, activation):
    import tensorflow as tf

    return lambda h, x: activation(tf.matmul(h, w, transpose_b=True) + tf.matmul(x, u, transpose_b=True))


def adding_problem(steps: int, count: int, rng):
    """Sequences [count, steps, 2] of (number in [0, 1), marker) with one marker in each half,
    and the sum of the two marked numbers [count, 1]."""
    numbers, markers = rng.uniform(size=(count, steps)), np.zeros((count, steps))
    rows = np.arange(count)
    first, second = rng.integers(0, steps // 2, size=count), rng.integers(steps // 2, steps, size=count)
    markers[rows, first] = markers[rows, second] = 1
    target = numbers[rows, first] + numbers[rows, second]
    return np.stack([numbers, markers], -1).astype(np.float32), target[:, None].astype(np.float32)


# the error of always answering the mean sum, 1: the variance of a sum of two uniforms
ADDING_BASELINE_MSE = 1 / 6


def long_range_error(cell: str, steps: int, args) -> float:
    """Train a `cell` network on the adding problem with T = `steps`; MSE on fresh sequences."""
    import keras

    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed + steps)
    x, y = adding_problem(steps, 2000, rng)
    test_x, test_y = adding_problem(steps, 1000, rng)
    layer = {"Elman": keras.layers.SimpleRNN, "LSTM": keras.layers.LSTM, "GRU": keras.layers.GRU}[cell]
    model = keras.Sequential([keras.Input((steps, 2)), layer(args.range_units), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(0.01, clipnorm=1.0), "mse")
    model.fit(x, y, batch_size=50, epochs=args.range_epochs, verbose=0)
    return float(model.evaluate(test_x, test_y, verbose=0))


def run(args, out) -> dict:
    if args.units < 1 or not 1 <= args.steps <= 1000 or not args.clip > 0:
        raise UserError("need --units >= 1, 1 <= --steps <= 1000 and --clip > 0")
    try:
        range_steps = [int(t) for t in args.range_steps.split(",") if t.strip()]
    except ValueError:
        raise UserError(f"--range-steps must be comma-separated integers, got {args.range_steps!r}") from None
    if any(not 2 <= t <= 1000 for t in range_steps) or args.range_units < 1 or args.range_epochs < 1:
        raise UserError("need 2 <= each --range-steps <= 1000, --range-units >= 1 and --range-epochs >= 1")
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    features = 8
    inputs = rng.normal(size=(args.steps, features)).astype(np.float32)
    u = (rng.normal(size=(args.units, features)) / np.sqrt(features)).astype(np.float32)
    h0 = tf.constant(rng.normal(scale=0.1, size=(1, args.units)).astype(np.float32))
    curves, exact = {}, {}
    for scale in (0.5, 1.0, 1.5):
        w = scaled_orthogonal(args.units, scale, rng)
        curves[f"linear, s={scale}"] = jacobian_norms(elman_step(w, u, tf.identity), h0, inputs)
        exact[f"linear, s={scale}"] = [scale**t for t in range(1, args.steps + 1)]
        curves[f"Elman tanh, s={scale}"] = jacobian_norms(elman_step(w, u, tf.tanh), h0, inputs)
    cell = keras.layers.LSTMCell(args.units, unit_forget_bias=True)
    cell.build((None, features))
    units = args.units

    def lstm_step(state, x):  # the state is [h; c]
        _, (h, c) = cell(x, [state[:, :units], state[:, units:]])
        return tf.concat([h, c], -1)

    curves["LSTM, forget bias 1"] = jacobian_norms(lstm_step, tf.concat([h0, h0], -1), inputs)
    exploding = curves["linear, s=1.5"]
    gradient = tf.constant(rng.normal(size=args.units) * exploding[-1], tf.float32)  # a gradient that big
    clipped = tf.clip_by_norm(gradient, args.clip)
    cosine = float(tf.reduce_sum(gradient * clipped) / (tf.norm(gradient) * tf.norm(clipped)))
    curves[f"linear, s=1.5, clipped to {args.clip:g}"] = [min(n, args.clip) for n in exploding]
    results = {
        "units": args.units,
        "norms": {name: [float(f"{v:.6g}") for v in values] for name, values in curves.items()},
        "exact_linear": {name: [float(f"{v:.6g}") for v in values] for name, values in exact.items()},
        "clipping": {
            "norm_before": float(tf.norm(gradient)),
            "norm_after": float(tf.norm(clipped)),
            "cosine_before_after": cosine,
        },
    }
    draw(curves, exact, out / "gradient_flow.png")
    for name, values in curves.items():
        print(
            f"{name:32} ‖∂h_T/∂h_0‖ at T=10: {values[min(9, len(values) - 1)]:.3g}, T={len(values)}: {values[-1]:.3g}"
        )
    if range_steps:
        errors = {
            cell: [long_range_error(cell, t, args) for t in range_steps] for cell in ("Elman", "LSTM", "GRU")
        }
        results["long_range"] = {
            "task": "adding problem",
            "steps": range_steps,
            "units": args.range_units,
            "test_mse": errors,
            "baseline_mse": ADDING_BASELINE_MSE,
        }
        draw_long_range(range_steps, errors, args, out / "long_range.png")
        for cell, values in errors.items():
            print(f"adding problem, {cell:5} test MSE at T = {range_steps}: {[f'{v:.2g}' for v in values]}")
    return results


def draw_long_range(steps: list, errors: dict, args, path) -> None:
    from keras_rnn.plots import plt, save_figure

    fig, axis = plt.subplots(figsize=(6, 4))
    for (cell, values), style in zip(errors.items(), ("o-", "s--", "^:")):
        axis.plot(steps, values, style, label=cell)
        for t, value in zip(steps, values):
            axis.annotate(f"{value:.2g}", (t, value), textcoords="offset points", xytext=(4, 4), fontsize=7)
    axis.axhline(ADDING_BASELINE_MSE, color="grey", linestyle="--", label="always 1 (nothing remembered)")
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("T (sequence length)")
    axis.set_ylabel("test MSE")
    axis.set_title(f"adding problem: {args.range_units} units, {args.range_epochs} epochs")
    axis.legend()
    save_figure(fig, path)


def draw(curves: dict, exact: dict, path) -> None:
    """Every curve over its whole range: colour = the scale s, line style = the network, markers
    on the clipped curve (it lies on the linear s = 1 line)."""
    from keras_rnn.plots import plt, save_figure

    fig, axis = plt.subplots(figsize=(8.5, 5.5))
    colours = {"0.5": "tab:blue", "1.0": "tab:orange", "1.5": "tab:red"}
    for name, values in curves.items():
        steps = range(1, len(values) + 1)
        scale = name.split("s=")[-1].split(",")[0] if "s=" in name else None
        if "clipped" in name:
            style = dict(color="black", linestyle="none", marker="x", markevery=max(1, len(values) // 12))
        elif name.startswith("linear"):
            style = dict(color=colours[scale], linestyle="-", linewidth=2)
        elif name.startswith("Elman"):
            style = dict(color=colours[scale], linestyle="--", linewidth=2)
        else:
            style = dict(
                color="tab:green",
                linestyle="-.",
                linewidth=2,
                marker="o",
                markevery=max(1, len(values) // 10),
            )
        axis.plot(steps, values, label=name, **style)
    for i, values in enumerate(exact.values()):
        axis.plot(
            range(1, len(values) + 1), values, "k:", linewidth=1, label="s^T (exact)" if i == 0 else None
        )
    everything = [v for values in curves.values() for v in values if v > 0]
    axis.set_yscale("log")
    axis.set_ylim(min(everything) / 10, max(everything) * 10)  # the whole range, nothing cut off
    axis.set_xlabel("T (steps back)")
    axis.set_ylabel("‖∂h_T/∂h_0‖ (spectral norm)")
    axis.set_title("gradient flow through time (solid: linear, dashed: tanh; dotted: s^T exact)", fontsize=10)
    axis.grid(alpha=0.3, which="major")
    axis.legend(fontsize=8, loc="lower left")
    save_figure(fig, path)
