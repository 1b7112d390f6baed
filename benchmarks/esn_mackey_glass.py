"""Mackey-Glass tau=17, the Jaeger protocol (GUIDE §5): NRMSE84 over many seeds.

Each run: a Mackey-Glass series (its own seed, squashed with tanh(y - 1)),
teacher-forced closed-form fit on the first `length - validation` steps after a
washout, then 84 free-running steps; the error at step 84 is taken in original
units. NRMSE84 = sqrt(mean over runs of err84²) / std(series). The reservoir
also has the run's seed. If `reservoirpy` is importable, the same series and
hyperparameters go through it too (NRMSE84, and the fit time of a new model and of the same
model fitted again, side by side).

    .venv/bin/python benchmarks/esn_mackey_glass.py --runs 20 --units 1000 [--length 11000]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from benchmarks.common import save  # noqa: E402
from keras_rnn import config as config_lib  # noqa: E402
from keras_rnn.tasks import esn  # noqa: E402

HORIZON = esn.JAEGER_HORIZON


def timed(fit) -> float:
    started = time.perf_counter()
    fit()
    return time.perf_counter() - started


def ours(cfg: esn.Config, problem: esn.Problem, n_train: int):
    """(84 free-running predictions in original units, fit seconds of a new model, and of
    the same model fitted again: TensorFlow's tracing and graph set-up are one-off costs)."""
    model = esn.build_model(cfg, 1, 1)
    model.compile(loss="mse")
    ours.cell = model.reservoir.cell  # handed to reservoirpy: the same reservoir
    x, y, w = esn.windows(problem.inputs[:n_train], problem.targets[:n_train], cfg.washout, cfg.window)

    def fit():
        model.readout.reset()
        model.fit(x, y, sample_weight=w, batch_size=cfg.batch_size, verbose=0)

    seconds = timed(fit), timed(fit)
    free = model.generate(problem.inputs[None, :n_train].astype(np.float32), HORIZON).numpy()[0, :, 0]
    return problem.original(free), *seconds


def reservoirpy_run(cfg: esn.Config, problem: esn.Problem, n_train: int, cell):
    """The same reservoir (our W, W_in and bias, handed over) and ridge in reservoirpy,
    fitted on the whole training part as one sequence (its usual way), readout on [input; state]."""
    from reservoirpy.nodes import Input, Reservoir, Ridge

    reservoir = Reservoir(
        cfg.units,
        lr=cfg.leak_rate,
        sr=cfg.spectral_radius,
        W=cell.recurrent_kernel.numpy().T.astype(np.float64),
        Win=cell.kernel.numpy().T.astype(np.float64),
        bias=cell.bias.numpy().astype(np.float64),
        seed=cfg.seed,
    )
    source = Input()
    model = [source, source >> reservoir] >> Ridge(ridge=cfg.alpha)
    x, y = problem.inputs[:n_train], problem.targets[:n_train]
    seconds = [timed(lambda: model.fit(x, y, warmup=cfg.washout)) for _ in range(2)]
    prediction = model.run(x)[-1:]
    free = []
    for _ in range(HORIZON):
        free.append(float(np.ravel(prediction)[0]))
        prediction = model.run(np.reshape(prediction, (1, 1)))
    return problem.original(np.array(free)), *seconds


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20, help="series and reservoirs (seeds 0 .. runs-1)")
    parser.add_argument("--no-reservoirpy", action="store_true")
    parser.add_argument("--tag", default="", help="results file: esn_mackey_glass[_TAG].json")
    config_lib.add_arguments(parser, esn.Config)  # every esn option, as train.py --task esn takes it
    parser.set_defaults(units=1000, length=11000)  # this benchmark's defaults
    args = parser.parse_args()
    base = config_lib.from_args(esn.Config, args)
    try:
        import reservoirpy  # noqa: F401

        systems = (
            {"keras_rnn": ours}
            if args.no_reservoirpy
            else {"keras_rnn": ours, "reservoirpy": reservoirpy_run}
        )
    except ImportError:
        systems = {"keras_rnn": ours}
    errors = {name: [] for name in systems}
    fit_seconds = {name: [] for name in systems}
    refit_seconds = {name: [] for name in systems}
    for run in range(args.runs):
        cfg = dataclasses.replace(base, seed=run)
        problem = esn.make_problem(cfg)
        n_train = esn.split(cfg, problem)
        truth = problem.original(problem.targets[n_train - 1 : n_train - 1 + HORIZON, 0])
        scale = float(np.std(problem.original(problem.targets)))
        for name, fn in systems.items():
            free, seconds, again = (
                fn(cfg, problem, n_train) if fn is ours else fn(cfg, problem, n_train, ours.cell)
            )
            errors[name].append(float((free[-1] - truth[-1]) / scale))
            fit_seconds[name].append(seconds)
            refit_seconds[name].append(again)
            print(
                f"run {run} {name}: err84/std {errors[name][-1]:+.2e}, fit {seconds:.2f} s, "
                f"refit {again:.2f} s",
                flush=True,
            )
    results = {
        name: {
            "nrmse84": float(np.sqrt(np.mean(np.square(errors[name])))),
            "log10_nrmse84": float(np.log10(np.sqrt(np.mean(np.square(errors[name]))))),
            "median_abs_error84_over_std": float(np.median(np.abs(errors[name]))),
            "median_fit_seconds": float(np.median(fit_seconds[name])),
            "median_refit_seconds": float(np.median(refit_seconds[name])),
            "errors84_over_std": errors[name],
        }
        for name in systems
    }
    save(
        "esn_mackey_glass" + (f"_{args.tag}" if args.tag else ""),
        {
            "command": "python benchmarks/esn_mackey_glass.py " + " ".join(sys.argv[1:]),
            "protocol": "Mackey-Glass tau=17 (RK4, dt=0.1, sampled every 1), tanh(y-1) squashing, "
            f"{n_train} teacher-forced training steps (washout {base.washout}), 84 free-running steps, "
            "NRMSE84 in original units over runs",
            "runs": args.runs,
            "hyperparameters": esn.reservoir_args(base)
            | {
                "alpha": base.alpha,
                "washout": base.washout,
                "window": base.window,
                "batch_size": base.batch_size,
            },
            "results": results,
        },
    )


if __name__ == "__main__":
    main()
