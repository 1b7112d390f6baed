"""esn-init: initialise like an echo state network, then learn every connection with momentum
(Sutskever, Martens, Dahl & Hinton 2013), against Keras' default initialisation.

The task is the lecture's frequency generator (`keras_rnn.data.series.frequency_generator`), in
one of two forms (`--inputs`):

- `frequency-and-sine` (default; how the char-LM's ESN task poses it): the input is a slowly
  changing frequency **and the previous value** of a sine wave at that frequency, the target
  its next value: one-step prediction;
- `frequency` (the deck's form): the frequency only; the target is the sine at that frequency
  from phase 0 at the window's start, so the network must generate the wave itself.

Trained with SGD and Nesterov momentum (`--optimizer nesterov`), or with rmsprop with momentum
(`--optimizer rmsprop`, the form Sutskever 2012 uses, cited by the deck). Three networks of
`--units` tanh units on the same windows:

- **ESN**: a `SimpleRNN` whose recurrent weights are an echo state network's (sparse,
  `--nonzero` incoming weights per unit, spectral radius `--spectral-radius`, inputs uniform in
  ±`--input-scaling`), left untrained; only the linear readout is fitted, in closed form
  (`RidgeReadout`): the classic ESN, and the starting point of the next one;
- **ESN init, all trained**: the ESN above (its fitted readout included), every connection
  then trained by `model.fit` with momentum `--momentum` (SGD with Nesterov momentum, or rmsprop);
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
    parser.add_argument(
        "--inputs",
        choices=list(INPUTS),
        default="frequency-and-sine",
        help="frequency-and-sine: one-step prediction (default); frequency: the deck's form, frequency in, sine out",
    )
    parser.add_argument(
        "--optimizer",
        choices=list(OPTIMIZERS),
        default="nesterov",
        help="nesterov: SGD with Nesterov momentum (default); rmsprop: rmsprop with momentum (Sutskever 2012)",
    )
    parser.add_argument("--learning-rate", type=float, help="default: 0.01 for nesterov, 0.001 for rmsprop")
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--spectral-radius", type=float, default=1.1)
    parser.add_argument(
        "--nonzero", type=int, default=15, help="non-zero incoming recurrent weights per unit"
    )
    parser.add_argument("--input-scaling", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)


INPUTS = {
    "frequency-and-sine": "input the frequency and the sine's previous value, target its next value "
    "(one-step prediction)",
    "frequency": "input the frequency only, target the sine from phase 0 at the window's start "
    "(the deck's form: the network generates the wave)",
}
OPTIMIZERS = {"nesterov": ("SGD, Nesterov momentum", 0.01), "rmsprop": ("rmsprop with momentum", 0.001)}
FIXED = {"batch_size": 16, "clipnorm": 1.0, "warmup_steps": 50, "train_fraction": 0.8, "ridge_alpha": 1e-6}
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

    features = 2 if args.inputs == "frequency-and-sine" else 1
    inputs = keras.Input((None, features), name=args.inputs.replace("-", "_"))
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
    ridge = RidgeReadout(1, alpha=FIXED["ridge_alpha"])
    ridge.build((None, None, states.units))
    x, y, w = train
    ridge.accumulate(states(x), y, w)
    ridge.solve()
    model.get_layer("readout").set_weights([ridge.kernel.numpy(), ridge.bias.numpy()])


def series(args):
    """(train, validation) windows of the chosen form: inputs, targets, weights."""
    from keras_rnn.data.series import frequency_generator
    from keras_rnn.tasks import esn

    if args.inputs == "frequency-and-sine":
        problem = esn.make_problem(esn.Config(series="frequency", length=args.length, seed=args.seed))
        inputs, targets = problem.inputs, problem.targets
    else:  # the frequency alone; each window's sine restarts at phase 0 (else its phase is unknowable)
        frequency, _ = frequency_generator(args.length, seed=args.seed)
        inputs, targets = ((frequency - 0.03) / 0.02)[:, None], frequency[:, None]
    cut = int(FIXED["train_fraction"] * len(inputs))
    train = windows(inputs[:cut], targets[:cut], args.window)
    validation = windows(inputs[cut:], targets[cut:], args.window)
    if args.inputs == "frequency":  # targets: the frequencies so far -> the sine of their sum
        train, validation = (
            (x, np.sin(2 * np.pi * np.cumsum(y, axis=1)).astype(np.float32), w)
            for x, y, w in (train, validation)
        )
    return train, validation


def run(args, out) -> dict:
    if args.learning_rate is None:
        args.learning_rate = OPTIMIZERS[args.optimizer][1]
    if args.units < 1 or args.epochs < 1 or args.nonzero < 1 or args.window <= WARMUP:
        raise UserError(f"need --units, --epochs, --nonzero >= 1 and --window > {WARMUP}")
    if not 0 <= args.momentum < 1 or args.learning_rate <= 0 or args.spectral_radius <= 0:
        raise UserError("need 0 <= --momentum < 1, --learning-rate > 0 and --spectral-radius > 0")
    if args.length < 5 * args.window:
        raise UserError(f"--length must be at least 5 windows ({5 * args.window} steps)")
    import keras

    train, validation = series(args)
    results = {
        "task": f"frequency generator: {INPUTS[args.inputs]}",
        "optimizer": OPTIMIZERS[args.optimizer][0],
        "target_variance": float(np.var(validation[1][:, WARMUP:])),
        "train_windows": len(train[0]),
        "validation_windows": len(validation[0]),
    }
    curves = {}
    for name in VARIANTS:
        keras.utils.set_random_seed(args.seed)
        model = network(args, esn_init=name != "default_init")
        if name == "esn_init":
            fit_readout(model, train)
        optimizer = (
            keras.optimizers.SGD(args.learning_rate, momentum=args.momentum, nesterov=True, clipnorm=1.0)
            if args.optimizer == "nesterov"
            else keras.optimizers.RMSprop(args.learning_rate, momentum=args.momentum, clipnorm=1.0)
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
            batch_size=FIXED["batch_size"],
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
        f"{args.epochs} epochs of {OPTIMIZERS[args.optimizer][0]}: "
        + ", ".join(f"{VARIANTS[name]} {results[name]['val_loss']:.2e}" for name in VARIANTS)
    )
    return results


def draw(curves: dict, esn_only: float, args, path) -> None:
    from keras_rnn.plots import plt, save_figure

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for (name, losses), style in zip(curves.items(), ("o-", "s--", "^:")):
        ax.plot(
            range(len(losses)),
            losses,
            style,
            color="black",
            markevery=max(1, len(losses) // 10),
            label=f"{VARIANTS[name]}, all trained: {losses[-1]:.2g}",
        )
    ax.axhline(esn_only, color="0.5", linestyle="-.", label=f"untrained ESN, ridge readout: {esn_only:.2g}")
    ax.set_yscale("log")
    ax.set_xlabel(
        f"epoch ({OPTIMIZERS[args.optimizer][0]} {args.momentum:g}, learning rate {args.learning_rate:g})"
    )
    ax.set_ylabel("validation loss (MSE)")
    form = "frequency and previous sine in" if args.inputs == "frequency-and-sine" else "frequency only in"
    ax.set_title(f"frequency generator ({form}, sine out), {args.units} tanh units", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, path)
