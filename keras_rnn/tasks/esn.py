"""Echo state network: a fixed random reservoir and a ridge-regression readout.

Reading order: config -> series (inputs/targets) -> windows -> model -> evaluation
and plot -> serving.

Every series becomes one-step prediction with teacher forcing: the input at
step t is [exogenous_t; target_{t-1}], the target is target_t. Free-running
generation feeds the predictions back into the target part of the input.
`model.fit` runs one closed-form fit per epoch (`EchoStateNetwork.train_step`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from keras_rnn import UserError, plots
from keras_rnn import config as config_lib
from keras_rnn.config import TrainConfig, option
from keras_rnn.data import series as series_data
from keras_rnn.evaluation import best_checkpoint_summary
from keras_rnn.export import ServingSpec, after_checks, finite_check
from keras_rnn.layers import EchoStateNetwork, FreshNormalEquations
from keras_rnn.limits import MAX_GENERATE_STEPS
from keras_rnn.metrics import nrmse
from keras_rnn.runs import Run
from keras_rnn.tasks.base import Task, TrainingPlan

NAME = "esn"
PLOT_FILE = "prediction.png"
JAEGER_HORIZON = 84  # Mackey-Glass free-running steps scored (Jaeger & Haas 2004)


@dataclasses.dataclass
class Config(TrainConfig):
    epochs: int = option(1, "closed-form fits (one pass each); 1 is all the readout needs")
    batch_size: int = option(32, "training windows per batch (all of a 30,000-step series in one pass)")
    series: str = option("mackey-glass", "generated series", choices=["mackey-glass", "frequency"])
    series_file: str | None = config_lib.train_file(
        "train on this CSV/NPY series instead ([time] or [time, features]; its last "
        "--validation-length steps are held out)"
    )
    length: int = option(6000, "time steps generated (training + validation)")
    validation_length: int = option(1000, "last time steps held out for validation and free-running")
    squash: bool = option(True, "Mackey-Glass: model tanh(y - 1); errors are reported in original units")
    washout: int = option(
        1000,
        "steps discarded at the start of every window (reservoir warm-up: after 500 "
        "steps two states of the default reservoir still differ by ~1e-6, after 1000 by ~1e-12)",
    )
    window: int = option(
        1000,
        "scored time steps per training window (windows run in parallel: shorter "
        "windows, fewer sequential steps)",
    )
    units: int = option(500, "reservoir size")
    spectral_radius: float = option(1.1, "largest |eigenvalue| of the reservoir matrix")
    leak_rate: float = option(0.3, "leaky-integrator rate a in (0, 1]")
    input_scaling: float = option(2.0, "scale of the input weights")
    feedback_scaling: float | None = option(
        None, "scale of the output-feedback weights W_fb (previous value fed back); default: --input-scaling"
    )
    bias_scaling: float = option(0.2, "scale of the reservoir bias")
    connectivity: float = option(0.1, "fraction of non-zero reservoir weights")
    input_connectivity: float = option(1.0, "fraction of non-zero input weights")
    activation: str = option("tanh", "reservoir activation")
    alpha: float = option(1e-9, "ridge regularisation of the readout (solved in float64)")
    readout: str = option(
        "ridge",
        "ridge: closed form, one pass; gradient: a Dense readout trained by the "
        "optimizer (give --epochs, e.g. 50)",
        choices=list(EchoStateNetwork.READOUTS),
    )
    plot_steps: int = option(300, "free-running steps predicted and plotted after the training part")
    precision: str = option(
        "float64",
        "dtype the model runs in (predict, generate, serving); float64 "
        "(reservoirpy's) has ~1.5x lower free-running errors than float32 with large "
        "reservoirs, at the same fit cost (the fit computes states in float32 either way); "
        "exports answer in float32, the LiteRT model computes in float32",
        choices=["float32", "float64"],
    )


# ---------------------------------------------------------------- series
@dataclasses.dataclass
class Problem:
    """Teacher-forced one-step prediction: inputs [T, E + O] = [exogenous; previous target]."""

    inputs: np.ndarray
    targets: np.ndarray
    original: Callable[[np.ndarray], np.ndarray]  # model units -> the series' own units
    description: str

    @property
    def exogenous(self) -> int:
        return self.inputs.shape[1] - self.targets.shape[1]


def make_problem(cfg: Config) -> Problem:
    if cfg.series_file:
        values = series_data.load_series(cfg.series_file)
        series_data.check_series(values, cfg.washout, source=cfg.series_file)
        return Problem(values[:-1], values[1:], lambda v: v, f"{Path(cfg.series_file).name}, one step ahead")
    if cfg.series == "frequency":
        freq, sine = series_data.frequency_generator(cfg.length, seed=config_lib.data_seed(cfg))
        scaled = (freq - 0.03) / 0.02  # the generator's 0.01-0.05 cycles/step -> [-1, 1]
        inputs = np.stack([scaled[1:], sine[:-1]], axis=-1)
        return Problem(
            inputs, sine[1:, None], lambda v: v, "frequency generator: input frequency, target sine"
        )
    y = series_data.mackey_glass(cfg.length, seed=config_lib.data_seed(cfg))
    values = np.tanh(y - 1) if cfg.squash else y
    original = (
        (lambda v: np.arctanh(np.clip(np.asarray(v, np.float64), -1 + 1e-12, 1 - 1e-12)) + 1)
        if cfg.squash
        else (lambda v: v)
    )
    return Problem(values[:-1, None], values[1:, None], original, "Mackey-Glass tau=17, one step ahead")


def split(cfg: Config, problem: Problem) -> int:
    """Number of training steps; the rest (validation_length) is held out."""
    series_data.check_series(problem.inputs, cfg.washout)
    n_train = len(problem.inputs) - cfg.validation_length
    if cfg.validation_length < 1 or n_train <= cfg.washout + 1:
        raise UserError(
            f"{len(problem.inputs)} time steps leave {n_train} for training after "
            f"--validation-length {cfg.validation_length}: need more than the washout "
            f"({cfg.washout}); give a longer series or lower --validation-length / --washout"
        )
    return n_train


def windows(x: np.ndarray, y: np.ndarray, washout: int, window: int):
    """Overlapping windows of washout + window steps covering x once, with sample weights
    that are 0 on each washout (and on steps an earlier window already scored)."""
    length = min(washout + window, len(x))
    starts = list(range(0, len(x) - length + 1, window))
    if starts[-1] + length < len(x):
        starts.append(len(x) - length)
    weights, scored = np.zeros((len(starts), length), np.float32), washout
    for i, s in enumerate(starts):
        first = max(washout, scored - s)
        weights[i, first:] = 1
        scored = s + length
    idx = np.array(starts)[:, None] + np.arange(length)
    return x[idx].astype(np.float32), y[idx].astype(np.float32), weights


def validation_sequence(cfg: Config, problem: Problem, n_train: int):
    """The held-out part, preceded by `washout` steps of context (weight 0)."""
    start = n_train - cfg.washout
    x, y = problem.inputs[None, start:], problem.targets[None, start:]
    w = np.ones(y.shape[:2], np.float32)
    w[:, : cfg.washout] = 0
    return x.astype(np.float32), y.astype(np.float32), w


# ---------------------------------------------------------------- model
def reservoir_args(cfg: Config, outputs: int = 1) -> dict:
    """The Reservoir's arguments; the last `outputs` input features are the output feedback."""
    return {
        "units": cfg.units,
        "spectral_radius": cfg.spectral_radius,
        "leak_rate": cfg.leak_rate,
        "input_scaling": cfg.input_scaling,
        "bias_scaling": cfg.bias_scaling,
        "connectivity": cfg.connectivity,
        "input_connectivity": cfg.input_connectivity,
        "activation": cfg.activation,
        "seed": cfg.seed,
        "feedback_features": outputs,
        "feedback_scaling": cfg.feedback_scaling,
    }


def build_model(cfg: Config, features: int, outputs: int) -> EchoStateNetwork:
    # Built eagerly, here: W's eigenvalues are computed with numpy.
    return EchoStateNetwork(
        features,
        outputs,
        reservoir_args(cfg, outputs),
        alpha=cfg.alpha,
        readout=cfg.readout,
        precision=cfg.precision,
        name="esn",
    )


def float32_copy(cfg: Config, model: EchoStateNetwork) -> EchoStateNetwork:
    """The same model computing in float32 (what LiteRT runs)."""
    if model.precision == "float32":
        return model
    copy = build_model(dataclasses.replace(cfg, precision="float32"), model.input_dim, model.output_dim)
    for target, source in zip(copy.weights, model.weights):
        target.assign(keras.ops.cast(source, target.dtype))
    return copy


def evaluate(cfg: Config, model: EchoStateNetwork, problem: Problem, n_train: int, png_path=None) -> dict:
    """One-step NRMSE on the held-out part, free-running NRMSE after the training part, a plot."""
    scale = float(np.std(problem.original(problem.targets)))
    x, y, _ = validation_sequence(cfg, problem, n_train)
    one_step = problem.original(model.predict(x, verbose=0)[0, cfg.washout :])
    truth = problem.original(y[0, cfg.washout :])
    results = {"nrmse_one_step": nrmse(one_step, truth, scale)}
    steps = min(cfg.plot_steps, cfg.validation_length)
    exogenous = problem.inputs[None, n_train : n_train + steps, : problem.exogenous].astype(np.float32)
    free = model.generate(
        problem.inputs[None, :n_train].astype(np.float32), steps, exogenous if problem.exogenous else None
    )
    free = problem.original(free.numpy()[0])
    free_truth = problem.original(problem.targets[n_train - 1 : n_train - 1 + steps])
    results[f"nrmse_free_running_{steps}"] = nrmse(free, free_truth, scale)
    if not cfg.series_file and cfg.series == "mackey-glass" and steps >= JAEGER_HORIZON:
        k = JAEGER_HORIZON - 1
        results["nrmse84"] = float(np.sqrt(np.mean((free[k] - free_truth[k]) ** 2)) / scale)
    if png_path:
        shown = min(len(truth), 500)
        plots.plot_panels(
            png_path,
            [
                (
                    "input (first feature, validation part)",
                    {"input": x[0, cfg.washout : cfg.washout + shown, 0]},
                ),
                (
                    f"one-step prediction, NRMSE {results['nrmse_one_step']:.2e}",
                    {"target": truth[:shown, 0], "prediction": one_step[:shown, 0]},
                ),
                (
                    f"free-running after the training part, NRMSE {results[f'nrmse_free_running_{steps}']:.2e}",
                    {"target": free_truth[:, 0], "free-running": free[:, 0]},
                ),
            ],
            title=problem.description,
        )
    return results


# ---------------------------------------------------------------- serving
class ESNServing(tf.Module):
    """What gets exported: `predict`, `generate` (autonomous series only) and `step`;
    float32 in and out whatever the model's precision."""

    def __init__(self, model: EchoStateNetwork):
        super().__init__(name="esn_serving")
        self.model = model

    def predict(self, series):
        (series,) = after_checks(self.series_checks(series), series)
        return {"prediction": refuse_overflow(tf.cast(self.model(series), tf.float32))}

    @staticmethod
    def series_checks(series) -> list:
        """A served series: at least one series of at least one step, every value finite (as in training)."""
        return [
            tf.debugging.assert_positive(tf.shape(series)[0], message="series must hold at least one series"),
            tf.debugging.assert_positive(tf.shape(series)[1], message="series needs at least one time step"),
            finite_check("series", series),
        ]

    def generate(self, series, num_steps):
        series, num_steps = after_checks(
            [
                tf.debugging.assert_positive(num_steps, message="num_steps must be > 0"),
                tf.debugging.assert_less_equal(
                    num_steps, MAX_GENERATE_STEPS, message=f"num_steps must be <= {MAX_GENERATE_STEPS}"
                ),
                *self.series_checks(series),
            ],
            series,
            num_steps,
        )
        continuation = tf.cast(self.model.generate(series, num_steps), tf.float32)
        message = "the free-running continuation diverged (values beyond float32): ask for fewer num_steps"
        return {"continuation": tf.debugging.assert_all_finite(continuation, message)}

    def step(self, input, state):
        prediction, state = self.model.step(input, state)
        return {"prediction": tf.cast(prediction, tf.float32), "state": tf.cast(state, tf.float32)}

    def checked_step(self, input, state):
        """`step` for served requests: NaN or inf in the input or the state is refused."""
        input, state = after_checks(
            [finite_check("input", input), finite_check("state", state)], input, state
        )
        return {name: refuse_overflow(value) for name, value in self.step(input, state).items()}


def refuse_overflow(values):
    """A served answer, refused when it overflowed float32 (inputs of extreme magnitude)."""
    message = "the answer overflowed float32: the input values are too large"
    return tf.debugging.assert_all_finite(values, message)


def step_signature(features: int, units: int, batch=None):
    return [
        tf.TensorSpec([batch, features], tf.float32, name="input"),
        tf.TensorSpec([batch, units], tf.float32, name="state"),
    ]


# ---------------------------------------------------------------- the task interface
def check_config(cfg: Config) -> None:
    """Refuse sizes that cannot work before generating or reading a series (the reservoir's
    own parameters are checked by the Reservoir layer, with the same kind of message)."""
    config_lib.require_at_least(cfg, 1, "units", "window", "length", "validation_length", "plot_steps")
    config_lib.require_at_least(cfg, 0, "washout", "alpha")
    if cfg.jit_compile == "on" and cfg.readout == "ridge":
        raise UserError(
            "--jit-compile on: the ridge readout is solved in closed form, never XLA-compiled "
            "(drop --jit-compile, or use --readout gradient)"
        )
    try:
        keras.activations.get(cfg.activation)
    except ValueError:
        raise UserError(
            f"--activation {cfg.activation!r} is not a Keras activation (e.g. tanh, relu)"
        ) from None


class ESNTask(Task):
    """`--task esn`: a series in; served as `predict`, `step` (and `generate` for autonomous
    series), and as the LiteRT `step`; no `predict.py` (call the SavedModel)."""

    name = NAME
    Config = Config
    check = staticmethod(check_config)

    def prepare(self, cfg: Config, run_dir: Path) -> TrainingPlan:
        problem = make_problem(cfg)
        n_train = split(cfg, problem)
        x, y, w = windows(problem.inputs[:n_train], problem.targets[:n_train], cfg.washout, cfg.window)
        train = tf.data.Dataset.from_tensor_slices((x, y, w)).batch(cfg.batch_size)
        val = tf.data.Dataset.from_tensor_slices(validation_sequence(cfg, problem, n_train)).batch(1)
        print(
            f"Series: {problem.description}; {n_train} training steps in {len(x)} windows, "
            f"{cfg.validation_length} held out"
        )
        model = build_model(cfg, problem.inputs.shape[1], problem.targets.shape[1])

        def scores(best: EchoStateNetwork) -> dict:
            """Scores and plot of the best checkpoint (what export serves), not the last epoch's weights."""
            return evaluate(cfg, best, problem, n_train, run_dir / PLOT_FILE)

        return TrainingPlan(
            model=model,
            train_data=train,
            validation_data=val,
            loss="mse",
            callbacks=[FreshNormalEquations()],
            summary=best_checkpoint_summary(
                self, run_dir, scores, training_steps=n_train, validation_steps=cfg.validation_length
            ),
            loss_label="mean squared error",
        )

    def serving(self, run: Run, xla: bool = False) -> ServingSpec:
        cfg, model = run.config, run.model
        module = ESNServing(model)
        features = model.reservoir.cell.kernel.shape[0]
        units, outputs = cfg.units, model.output_dim
        series = tf.TensorSpec([None, None, features], tf.float32, name="series")
        endpoints = {
            "predict": (module.predict, [series]),
            "step": (module.checked_step, step_signature(features, units)),
        }
        if features == outputs:  # autonomous: predictions can be fed back as the whole input
            endpoints["generate"] = (module.generate, [series, tf.TensorSpec([], tf.int32, name="num_steps")])
        squashed = cfg.series == "mackey-glass" and cfg.squash and not cfg.series_file
        return ServingSpec(
            name=NAME,
            module=module,
            endpoints=endpoints,
            litert={
                "step": (ESNServing(float32_copy(cfg, model)).step, step_signature(features, units, batch=1))
            },
            metadata={
                "task": NAME,
                "units": units,
                "features": features,
                "output_features": outputs,
                "series": cfg.series_file and Path(cfg.series_file).name or cfg.series,
                "values": "tanh(y - 1) of the series y" if squashed else "the series as given",
                "inputs": {
                    "input": f"float32 [1, {features}]: [exogenous; previous value]",
                    "state": f"float32 [1, {units}], zeros to start",
                },
                "outputs": {
                    "prediction": f"float32 [1, {outputs}], the next value",
                    "state": f"float32 [1, {units}], feed back next step",
                },
            },
            example={"signature_name": "predict", "inputs": {"series": [[[0.1], [0.2], [0.15]]]}}
            if features == 1
            else None,
        )


TASK = ESNTask()
