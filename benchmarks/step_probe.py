"""The per-step costs behind two design choices, measured side by side in one run.

    python benchmarks/step_probe.py [--repeats 5]

1. The GRU 1024 recurrent product at batch 1 ([1, 1024] x [1024, 3072]) inside a
   tf.while_loop, microseconds per step: one matmul, the same weights as two column
   blocks (what `keras_rnn/recurrent.py` stores), and under XLA one matmul with and
   without a bias added to its output.
2. The reservoir of a 1000-unit ESN over 9 windows x 2,000 steps (what a 10,000-step
   fit runs), seconds: Keras' generic `RNN(ReservoirCell)` loop vs `Reservoir`'s own
   loop (`ReservoirCell.run`); and the product per step of that batch ([9, 1000] states, W with
   10% non-zeros), dense vs `tf.sparse.sparse_dense_matmul`, microseconds.
Medians of --repeats, variants timed round-robin. Results: benchmarks/results/step_probe.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from common import round_robin_medians as medians  # noqa: E402
from common import save

from keras_rnn.layers import Reservoir, ReservoirCell  # noqa: E402

STEPS = 1000


def loop(product, jit=False):
    @tf.function(jit_compile=jit)
    def run(n):
        body = lambda i, h: (i + 1, tf.tanh(product(h))[:, :1024])  # noqa: E731
        return tf.while_loop(lambda i, _: i < n, body, (0, tf.zeros([1, 1024])))[1]

    return lambda: run(tf.constant(STEPS)).numpy()


def gru_product(repeats: int) -> dict:
    rng = np.random.default_rng(0)
    kernel = tf.Variable(rng.normal(0, 0.03, (1024, 3072)).astype("float32"))
    halves = [tf.Variable(h) for h in np.array_split(kernel.numpy(), 2, axis=1)]
    bias = tf.Variable(np.zeros(3072, "float32"))
    seconds = medians(
        {
            "one_matmul": loop(lambda h: tf.matmul(h, kernel)),
            "two_column_blocks": loop(lambda h: tf.concat([tf.matmul(h, b) for b in halves], -1)),
            "xla_one_matmul": loop(lambda h: tf.matmul(h, kernel), jit=True),
            "xla_one_matmul_plus_bias": loop(lambda h: tf.matmul(h, kernel) + bias, jit=True),
        },
        repeats,
    )
    return {name: round(s / STEPS * 1e6, 1) for name, s in seconds.items()}


def reservoir_loop(repeats: int) -> dict:
    args = dict(units=1000, spectral_radius=1.1, leak_rate=0.3, connectivity=0.1, seed=0)
    x = tf.constant(np.random.default_rng(0).uniform(-1, 1, (9, 2000, 1)).astype("float32"))
    ours = Reservoir(**args)
    generic = keras.layers.RNN(ReservoirCell(**args), return_sequences=True)
    run_ours, run_generic = tf.function(ours), tf.function(generic)
    seconds = medians(
        {"keras_rnn_loop": lambda: run_generic(x).numpy(), "reservoir_run": lambda: run_ours(x).numpy()},
        repeats,
    )
    w = ours.cell.recurrent_kernel
    sparse_w = tf.sparse.from_dense(tf.transpose(w))

    def states_loop(product):
        @tf.function
        def run(n):
            body = lambda i, s: (i + 1, tf.tanh(product(s)))  # noqa: E731
            return tf.while_loop(lambda i, _: i < n, body, (0, tf.ones([9, 1000]) * 0.1))[1]

        return lambda: run(tf.constant(STEPS)).numpy()

    products = medians(
        {
            "dense": states_loop(lambda s: tf.matmul(s, w)),
            "sparse": states_loop(
                lambda s: tf.transpose(tf.sparse.sparse_dense_matmul(sparse_w, s, adjoint_b=True))
            ),
        },
        repeats,
    )
    return {
        **{name: round(s, 3) for name, s in seconds.items()},
        **{f"product_us_per_step_{name}": round(s / STEPS * 1e6, 1) for name, s in products.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    save(
        "step_probe",
        {
            "command": f"python benchmarks/step_probe.py --repeats {args.repeats}",
            "gru1024_product_us_per_step": gru_product(args.repeats),
            "reservoir_1000_units_9x2000_steps_seconds": reservoir_loop(args.repeats),
        },
    )


if __name__ == "__main__":
    main()
