"""Time series for the echo state network, all generated offline and deterministic by seed.

- `mackey_glass`: the delay equation dy/dt = a y(t-τ) / (1 + y(t-τ)^n) - b y(t),
  τ=17, a=0.2, b=0.1, n=10, integrated with RK4 at a fine step and sampled
  every time unit (the Jaeger protocol, GUIDE §5);
- `frequency_generator`: the lectures' task: input a slowly varying frequency,
  target a sine wave at that frequency;
- `load_series`: a user's CSV or NPY file, one row per time step.
"""

from __future__ import annotations

import warnings

import numpy as np

from keras_rnn import UserError
from keras_rnn.data import require_file


def mackey_glass(
    n: int,
    tau: float = 17,
    a: float = 0.2,
    b: float = 0.1,
    power: int = 10,
    dt: float = 0.1,
    discard: int = 1000,
    seed: int = 0,
) -> np.ndarray:
    """`n` samples, one per time unit, after `discard` units of transient.

    The initial history is 1.2 plus a small seeded perturbation, so seeds give different
    stretches of the same attractor."""
    per_unit = round(1 / dt)
    delay = round(tau / dt)
    steps = (n + discard) * per_unit
    rng = np.random.default_rng(seed)
    y = np.empty(delay + steps + 1)
    y[: delay + 1] = 1.2 + 0.1 * rng.uniform(-1, 1)

    def f(now, lagged):
        return a * lagged / (1 + lagged**power) - b * now

    for i in range(delay, delay + steps):
        lag0, lag1 = y[i - delay], y[i - delay + 1]
        lag_mid = 0.5 * (lag0 + lag1)
        k1 = f(y[i], lag0)
        k2 = f(y[i] + 0.5 * dt * k1, lag_mid)
        k3 = f(y[i] + 0.5 * dt * k2, lag_mid)
        k4 = f(y[i] + dt * k3, lag1)
        y[i + 1] = y[i] + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return y[delay + discard * per_unit :: per_unit][:n]


def frequency_generator(
    n: int, low: float = 0.01, high: float = 0.05, hold: int = 200, smooth: float = 0.02, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(frequency [n] in cycles per step, sine at that frequency [n]).

    The frequency jumps to a random value every ~`hold` steps and is smoothed
    (exponential moving average), so it varies slowly; the phase accumulates it."""
    rng = np.random.default_rng(seed)
    levels = rng.uniform(low, high, n // hold + 2)
    target = np.repeat(levels, hold)[:n]
    freq = np.empty(n)
    freq[0] = target[0]
    for t in range(1, n):
        freq[t] = freq[t - 1] + smooth * (target[t] - freq[t - 1])
    return freq, np.sin(2 * np.pi * np.cumsum(freq))


def load_series(path) -> np.ndarray:
    """A [time, features] float array from a .npy or CSV file (header row allowed)."""
    path = require_file(path, "a .npy or CSV series file (--series-file)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy warns about empty input; the check below says it
            if path.suffix == ".npy":
                data = np.load(path, allow_pickle=False)
            else:
                data = np.genfromtxt(path, delimiter=",", dtype=np.float64)
                if data.ndim >= 1 and data.size and np.all(np.isnan(data[0] if data.ndim == 2 else data[:1])):
                    data = data[1:]  # a header row
        data = np.asarray(data, dtype=np.float64)
    except (ValueError, TypeError, OSError) as err:
        raise UserError(
            f"cannot read {path} as numbers ({err}): give a [time] or [time, features] "
            "table of numbers (.npy or CSV)"
        ) from None
    if data.ndim == 1:
        data = data[:, None]
    if data.ndim != 2 or data.size == 0:
        raise UserError(
            f"{path} must hold a [time] or [time, features] table of numbers, got shape {data.shape}"
        )
    return data


def check_series(series: np.ndarray, washout: int, source: str = "the series") -> np.ndarray:
    """Refuse NaN/inf and series too short to train on after the washout."""
    series = np.asarray(series, dtype=np.float64)
    bad = ~np.isfinite(series)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise UserError(f"{source} contains NaN or inf (first at time step {row}): clean or interpolate it")
    if len(series) <= 2 * washout + 1:
        raise UserError(
            f"{source} has {len(series)} time steps, too few for a washout of {washout} "
            f"(need more than {2 * washout + 1}: washout plus data, for training and validation); "
            "give a longer series or lower --washout"
        )
    return series


def waveforms(n: int, seed: int = 0):
    """`n` labelled series, a third each of noisy sine, square and sawtooth waves (random period,
    phase and amplitude; 20-60 steps; two features: the wave and its first difference): the classify
    task's offline default, learnable in seconds. Deterministic by seed."""
    from keras_rnn.data.labelled import LabelledSeries

    rng = np.random.default_rng(seed)
    shapes = {
        "sine": lambda t: np.sin(2 * np.pi * t),
        "square": lambda t: np.sign(np.sin(2 * np.pi * t)),
        "sawtooth": lambda t: 2 * (t - np.floor(t + 0.5)),
    }
    names = list(shapes)
    series, labels = [], []
    for i in range(n):
        label = names[i % len(names)]
        steps = int(rng.integers(20, 61))
        t = (np.arange(steps) / rng.uniform(8, 16)) + rng.uniform(0, 1)
        wave = rng.uniform(0.5, 2.0) * shapes[label](t) + 0.1 * rng.standard_normal(steps)
        series.append(np.stack([wave, np.diff(wave, prepend=wave[0])], axis=1).astype(np.float32))
        labels.append(label)
    return LabelledSeries(series, labels, 2, names, source="generated waveforms", lines=list(range(1, n + 1)))
