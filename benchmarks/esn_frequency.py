"""The lectures' frequency generator: input a slowly varying frequency, output a sine at it.

Each run: a frequency schedule of its own seed (a new level every ~200 steps,
0.01-0.05 cycles/step, smoothed); closed-form fit with teacher forcing on the
first `length - validation` steps, then on the held-out rest of the schedule
(1,000 steps by default) the model runs free: its own sine is fed back, only the
frequency comes from outside. Reported: one-step and free-running NRMSE there.

    .venv/bin/python benchmarks/esn_frequency.py --runs 5 --units 500
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
from keras_rnn.metrics import nrmse  # noqa: E402
from keras_rnn.tasks import esn  # noqa: E402

HORIZONS = (100, 300, 1000)  # free-running steps scored (a small frequency error dephases the sine over time)


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="schedules (seeds 0 .. runs-1)")
    config_lib.add_arguments(parser, esn.Config)  # every esn option, as train.py --task esn takes it
    parser.set_defaults(series="frequency")
    args = parser.parse_args()
    base = config_lib.from_args(esn.Config, args)
    runs = []
    for run in range(args.runs):
        cfg = dataclasses.replace(base, seed=run)
        problem = esn.make_problem(cfg)
        n_train = esn.split(cfg, problem)
        model = esn.build_model(cfg, problem.inputs.shape[1], problem.targets.shape[1])
        model.compile(loss="mse")
        x, y, w = esn.windows(problem.inputs[:n_train], problem.targets[:n_train], cfg.washout, cfg.window)
        started = time.perf_counter()
        model.fit(x, y, sample_weight=w, batch_size=cfg.batch_size, verbose=0)
        seconds = time.perf_counter() - started
        scores = esn.evaluate(cfg, model, problem, n_train)
        # free-running over the whole held-out schedule: the frequency given, the sine fed back
        exogenous = problem.inputs[None, n_train:, : problem.exogenous].astype(np.float32)
        free = model.generate(
            problem.inputs[None, :n_train].astype(np.float32), cfg.validation_length, exogenous
        ).numpy()[0, :, 0]
        truth = problem.targets[n_train - 1 : n_train - 1 + cfg.validation_length, 0]
        scale = float(np.std(problem.targets))
        free_running = {f"nrmse_free_running_{h}": nrmse(free[:h], truth[:h], scale) for h in HORIZONS}
        runs.append(
            {
                "seed": run,
                "fit_seconds": round(seconds, 2),
                "nrmse_one_step": scores["nrmse_one_step"],
                **free_running,
            }
        )
        print(runs[-1], flush=True)
    save(
        "esn_frequency",
        {
            "command": "python benchmarks/esn_frequency.py " + " ".join(sys.argv[1:]),
            "protocol": f"frequency generator, {base.length - 1 - base.validation_length} teacher-forced "
            "training steps "
            f"(washout {base.washout}), then {base.validation_length} held-out steps: one-step NRMSE and "
            f"free-running NRMSE over the first {HORIZONS} steps (own output fed back, the frequency given)",
            "hyperparameters": esn.reservoir_args(base) | {"alpha": base.alpha},
            "median_nrmse_one_step": float(np.median([r["nrmse_one_step"] for r in runs])),
            **{
                f"median_nrmse_free_running_{h}": float(
                    np.median([r[f"nrmse_free_running_{h}"] for r in runs])
                )
                for h in HORIZONS
            },
            "runs": runs,
        },
    )


if __name__ == "__main__":
    main()
