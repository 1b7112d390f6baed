"""esn-init: initialise like an echo state network, then learn every connection with momentum
(Sutskever, Martens, Dahl & Hinton 2013), against Keras' default initialisation.

The task is the lecture's frequency generator (`keras_rnn.data.series.frequency_generator`,
as the ESN task poses it): the input is a slowly changing frequency and the previous value of
a sine wave at that frequency, the target its next value, so the network must hold the wave's
phase and speed in its state. Three networks of `--units` tanh units on the same windows:

- **ESN**: a `SimpleRNN` whose recurrent weights are an echo state network's (sparse,
  `--nonzero` incoming weights per unit, spectral radius `--spectral-radius`, inputs uniform in
  ±`--input-scaling`), left untrained; only the linear readout is fitted, in closed form
  (`RidgeReadout`): the classic ESN, and the starting point of the next one;
- **ESN init, all trained**: the ESN above (its fitted readout included), every connection
  then trained by `model.fit` with SGD and Nesterov momentum `--momentum`;
- **ESN reservoir, random readout, all trained**: the same recurrent and input weights, the
  readout initialised as Keras does, trained the same way;
- **default init, all trained**: Keras' default initialisation (Glorot inputs, orthogonal
  recurrent weights), trained the same way.

The picture: validation loss per epoch (epoch 0: before training) of the trained networks,
with the untrained ESN's as a line.
"""

from __future__ import annotations

import numpy as np

from keras_rnn import UserError


def add_arguments(parser) -> None:
    parser.add_argument("--units", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--length", type=int, default=6000, help="steps of the generated series (80%% train)")
    parser.add_argument(
        "--window", type=int, default=200, help="training window (steps); the first 50 warm up"
    )
    parser.add_argument("--learning-rate", type=float, default=0.01)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--spectral-radius", type=float, default=1.1)
    parser.add_argument(
        "--nonzero", type=int, default=15, help="non-zero incoming recurrent weights per unit"
    )
    parser.add_argument("--input-scaling", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)


VARIANTS = {
    "esn_init": "ESN init",
    "esn_reservoir": "ESN reservoir, random readout",
    "default_init": "default init",
}
WARMUP = 50  # steps at the start of each window left out of the loss (the state settles)


def windows(inputs: np.ndarray, targets: np.ndarray, window: int):
    """Half-overlapping windows [N, window, F], their targets, and weights 0 on the warm-up steps."""
    starts = range(0, len(inputs) - window + 1, window // 2)
    x = np.stack([inputs[s : s + window] for s in starts]).astype(np.float32)
    y = np.stack([targets[s : s + window] for s in starts]).astype(np.float32)
    weights = np.ones(y.shape[:2], np.float32)
    weights[:, :WARMUP] = 0
    return x, y, weights


def network(args, esn_init: bool):
    import keras

    from keras_rnn.layers import ESNInitializer

    inputs = keras.Input((None, 2), name="frequency_and_previous_value")
    start = (
        {
            "recurrent_initializer": ESNInitializer(args.spectral_radius, args.nonzero, seed=args.seed),
            "kernel_initializer": keras.initializers.RandomUniform(
                -args.input_scaling, args.input_scaling, seed=args.seed
            ),
        }
        if esn_init
        else {}
    )
    states = keras.layers.SimpleRNN(args.units, return_sequences=True, name="rnn", **start)(inputs)
    return keras.Model(inputs, keras.layers.Dense(1, name="readout")(states))


def fit_readout(model, train) -> None:
    """Set `model`'s readout to the ridge-regression fit on its (untrained) states: how an ESN trains."""
    from keras_rnn.layers.readout import RidgeReadout

    states = model.get_layer("rnn")
    ridge = RidgeReadout(1, alpha=1e-6)
    ridge.build((None, None, states.units))
    x, y, w = train
    ridge.accumulate(states(x), y, w)
    ridge.solve()
    model.get_layer("readout").set_weights([ridge.kernel.numpy(), ridge.bias.numpy()])


def run(args, out) -> dict:
    if args.units < 1 or args.epochs < 1 or args.nonzero < 1 or args.window <= WARMUP:
        raise UserError(f"need --units, --epochs, --nonzero >= 1 and --window > {WARMUP}")
    if not 0 <= args.momentum < 1 or args.learning_rate <= 0 or args.spectral_radius <= 0:
        raise UserError("need 0 <= --momentum < 1, --learning-rate > 0 and --spectral-radius > 0")
    if args.length < 5 * args.window:
        raise UserError(f"--length must be at least 5 windows ({5 * args.window} steps)")
    import keras

    from keras_rnn.tasks import esn

    problem = esn.make_problem(esn.Config(series="frequency", length=args.length, seed=args.seed))
    cut = int(0.8 * len(problem.inputs))
    train = windows(problem.inputs[:cut], problem.targets[:cut], args.window)
    validation = windows(problem.inputs[cut:], problem.targets[cut:], args.window)
    results = {
        "task": problem.description,
        "train_windows": len(train[0]),
        "validation_windows": len(validation[0]),
    }
    curves = {}
    for name in VARIANTS:
        keras.utils.set_random_seed(args.seed)
        model = network(args, esn_init=name != "default_init")
        if name == "esn_init":
            fit_readout(model, train)
        optimizer = keras.optimizers.SGD(
            args.learning_rate, momentum=args.momentum, nesterov=True, clipnorm=1.0
        )
        model.compile(optimizer=optimizer, loss="mse")
        before = model.evaluate(validation[0], validation[1], sample_weight=validation[2], verbose=0)
        if name == "esn_init":
            results["esn_untrained"] = {"val_loss": before}
        history = model.fit(
            train[0],
            train[1],
            sample_weight=train[2],
            validation_data=validation,
            batch_size=16,
            epochs=args.epochs,
            shuffle=True,
            verbose=0,
        ).history
        curves[name] = [before, *history["val_loss"]]
        results[name] = {
            "val_loss_before": before,
            "val_loss": history["val_loss"][-1],
            "best_val_loss": min(history["val_loss"]),
            "train_loss": history["loss"][-1],
        }
    draw(curves, results["esn_untrained"]["val_loss"], args, out / "esn_init.png")
    print(
        f"validation MSE: untrained ESN (ridge readout) {results['esn_untrained']['val_loss']:.2e}; after "
        f"{args.epochs} epochs of SGD + momentum: "
        + ", ".join(f"{VARIANTS[name]} {results[name]['val_loss']:.2e}" for name in VARIANTS)
    )
    return results


def draw(curves: dict, esn_only: float, args, path) -> None:
    from keras_rnn.plots import plt, save_figure

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name, losses in curves.items():
        ax.plot(range(len(losses)), losses, label=f"{VARIANTS[name]}, all trained")
    ax.axhline(esn_only, color="grey", linestyle="--", label="untrained ESN, ridge readout")
    ax.set_yscale("log")
    ax.set_xlabel(f"epoch (SGD, Nesterov momentum {args.momentum:g})")
    ax.set_ylabel("validation loss (MSE)")
    ax.set_title(f"frequency generator, {args.units} tanh units")
    ax.legend()
    save_figure(fig, path)
