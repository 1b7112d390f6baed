"""Char-LM generation speed at batch 1, and training speed, side by side in one run.

    python benchmarks/charlm_speed.py [--chars 400] [--repeats 3]

For each model size (the TensorFlow tutorial's embedding 256 + GRU 1024, and a
small LSTM 256) it measures characters/second for
  (a) the tutorial's way: a Python loop calling one tf.function per character,
  (b) the exported SavedModel `generate` signature (whole loop in the graph, no XLA),
  (b') its `generate_xla` twin (export --xla), compiled by XLA, which TF Serving
       runs only behind its experimental --xla_cpu_compilation_enabled flag,
  (c) the LiteRT step model driven from Python (float32 and dynamic-range quantized),
and training characters/second with model.fit (float32 and mixed_bfloat16).
Weights are random (speed does not depend on them); medians of --repeats runs.
Results: benchmarks/results/charlm_speed.json.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from common import round_robin_medians, save  # noqa: E402

from keras_rnn import decoding  # noqa: E402
from keras_rnn.data.text import CharVocabulary  # noqa: E402
from keras_rnn.export import writer  # noqa: E402
from keras_rnn.hosts.charlm import CharLMLiteRT  # noqa: E402
from keras_rnn.runs import Run  # noqa: E402
from keras_rnn.tasks import charlm  # noqa: E402

SIZES = {
    "gru1024_emb256 (TF tutorial)": dict(cell="gru", units=1024, layers=1, embedding_dim=256),
    "lstm256_emb64": dict(cell="lstm", units=256, layers=1, embedding_dim=64),
}
VOCAB = CharVocabulary(sorted(set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ .,;:!?'\n-&$3")))


def median_rates(variants: dict, chars: int, repeats: int) -> dict:
    """Characters/second of each variant, from the median of `repeats` round-robin timings."""
    return {name: chars / seconds for name, seconds in round_robin_medians(variants, repeats).items()}


def training_rate(cfg, precision: str, batches: int = 4) -> float:
    keras.mixed_precision.set_global_policy(precision)
    model = charlm.build_model(cfg, VOCAB.size)
    keras.mixed_precision.set_global_policy("float32")
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(0).integers(0, VOCAB.size, (64 * batches, 100)).astype("int32")
    model.fit(x[:64], x[:64], batch_size=64, verbose=0)
    start = time.perf_counter()
    model.fit(x, x, batch_size=64, verbose=0)
    return x.size / (time.perf_counter() - start)


def measure(name: str, sizes: dict, chars: int, repeats: int, workdir: Path) -> dict:
    cfg = charlm.Config(**sizes)
    keras.utils.set_random_seed(0)
    model = charlm.build_model(cfg, VOCAB.size)
    step_model = charlm.build_model(cfg, VOCAB.size, step=True)
    step_model.set_weights(model.get_weights())
    sampler = decoding.KerasStepSampler(step_model, VOCAB)

    written = writer.export(
        charlm.TASK.serving(Run(workdir, cfg, model, VOCAB), xla=True), workdir / name.split()[0]
    )
    signatures = tf.saved_model.load(str(written["savedmodel"])).signatures
    args = dict(
        prompt=tf.constant(["T"]),
        num_chars=tf.constant(chars),
        temperature=tf.constant(1.0),
        top_k=tf.constant(0),
        seed=tf.constant(0),
    )
    lite = {
        suffix: CharLMLiteRT(written["litert"][i], written["metadata"])
        for i, suffix in enumerate(["float32", "drq"])
    }

    rates = median_rates(
        {
            "a_python_loop_tf_function": lambda: sampler.generate("T", chars),
            "b_savedmodel_generate": lambda: signatures["generate"](**args),
            "b_savedmodel_generate_xla": lambda: signatures["generate_xla"](**args),
            "c_litert_float32": lambda: lite["float32"].generate("T", chars),
            "c_litert_drq": lambda: lite["drq"].generate("T", chars),
        },
        chars,
        repeats,
    )
    base = rates["a_python_loop_tf_function"]
    return {
        "config": sizes,
        "parameters": model.count_params(),
        "generation_chars_per_second": {k: round(v, 1) for k, v in rates.items()},
        "speedup_vs_a": {k: round(v / base, 2) for k, v in rates.items()},
        "tflite_bytes": {
            "float32": Path(written["litert"][0]).stat().st_size,
            "drq": Path(written["litert"][1]).stat().st_size,
        },
        "training_chars_per_second": {p: round(training_rate(cfg, p)) for p in ("float32", "mixed_bfloat16")},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chars", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = {
            name: measure(name, sizes, args.chars, args.repeats, Path(tmp)) for name, sizes in SIZES.items()
        }
    save(
        "charlm_speed",
        {
            "command": f"python benchmarks/charlm_speed.py --chars {args.chars} --repeats {args.repeats}",
            "batch": 1,
            "litert_threads": 1,
            "models": results,
        },
    )


if __name__ == "__main__":
    main()
