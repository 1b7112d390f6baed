"""Training throughput of the translator's forms next to the TensorFlow tutorial's recipe.

    taskset -c 1 python benchmarks/translate_train_speed.py --steps 40 \\
        --variant cross="--attention cross --readout residual" --variant bahdanau="--attention bahdanau"

Every system trains on the same fra-eng training split (train.py's seeded 80/10/10 cut),
batch 64, one thread: `--steps` fixed batches, a warm-up pass over them (tracing every shape),
then timed passes of `train_on_batch`; the rates are target tokens (the ones the loss counts)
and sentence pairs per second (the tutorial's tokens are words, ours subword pieces: pairs/s
compares the same sentences). Each
`--variant NAME=ARGS` is a set of train.py options on top of `--units 256
--embedding-dim 256 --attention-units 256` (the tutorial's size); the tutorial is
`benchmarks/translate_tutorial.py`'s model. Repeated round-robin (`--repeats`), medians.
Results: benchmarks/results/translate_train_speed[_NAME].json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import translate_tutorial as tutorial  # noqa: E402
from common import save  # noqa: E402

from keras_rnn import config as config_lib  # noqa: E402
from keras_rnn import training  # noqa: E402
from keras_rnn.data import parallel  # noqa: E402
from keras_rnn.tasks import translate  # noqa: E402

SIZE = "--units 256 --embedding-dim 256 --attention-units 256"


def ours(arguments: str, pairs_file: str, work: Path):
    """The compiled model and its training batches, as train.py makes them."""
    parser = argparse.ArgumentParser()
    config_lib.add_arguments(parser, translate.Config)
    cfg = config_lib.from_args(
        translate.Config, parser.parse_args(["--pairs-file", pairs_file, *arguments.split()])
    )
    keras.mixed_precision.set_global_policy(cfg.precision)
    plan = translate.TASK.prepare(cfg, work)
    plan.model.compile(
        optimizer=training.make_optimizer(cfg), loss=plan.loss, jit_compile=cfg.jit_compile or "auto"
    )
    keras.mixed_precision.set_global_policy("float32")
    return plan.model, plan.train_data


def the_tutorials(pairs_file: str, seed: int):
    train, _, _ = parallel.split(parallel.read_pairs(pairs_file).pairs, seed)
    raw = tf.data.Dataset.from_tensor_slices(tuple(tutorial.nfkd(side) for side in zip(*train)))
    raw = raw.shuffle(len(train), seed=seed).batch(64)
    processors = [
        keras.layers.TextVectorization(
            standardize=tutorial.tf_lower_and_split_punct, max_tokens=5000, ragged=True
        )
        for _ in range(2)
    ]
    processors[0].adapt(raw.map(lambda c, t: c))
    processors[1].adapt(raw.map(lambda c, t: t))

    def process(context, target):
        context, target = processors[0](context).to_tensor(), processors[1](target)
        return (context, target[:, :-1].to_tensor()), target[:, 1:].to_tensor()

    model = tutorial.Translator(256, *processors)
    model.compile(optimizer="adam", loss=tutorial.masked_loss)
    return model, raw.map(process, tf.data.AUTOTUNE).repeat()


def timer(model, data, steps: int):
    """A function that trains on `steps` fixed batches and returns (seconds, target tokens, pairs).
    The first call traces every batch shape; later calls time steady-state steps."""
    chosen = list(data.take(steps))
    tokens = sum(int(np.count_nonzero(y)) for _, y in chosen)
    pairs = sum(int(y.shape[0]) for _, y in chosen)

    def run():
        start = time.perf_counter()
        for x, y in chosen:
            model.train_on_batch(x, y)
        return time.perf_counter() - start, tokens, pairs

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs-file", default="../shared/data/fra-eng/fra.txt")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=ARGS")
    parser.add_argument("--name", default="", help="suffix of the results file's name")
    args = parser.parse_args()
    variants = dict(v.split("=", 1) for v in args.variant) or {"bahdanau": "", "cross": "--attention cross"}
    with tempfile.TemporaryDirectory() as tmp:
        systems = {"tutorial": the_tutorials(args.pairs_file, args.seed)}
        for name, extra in variants.items():
            (Path(tmp) / name).mkdir()
            systems[name] = ours(f"{SIZE} {extra}", args.pairs_file, Path(tmp) / name)
        runs = {name: timer(model, data, args.steps) for name, (model, data) in systems.items()}
        for run in runs.values():  # warm-up: trace every batch shape
            run()
        rates = {name: [] for name in runs}
        pair_rates = {name: [] for name in runs}
        for _ in range(args.repeats):  # round-robin
            for name, run in runs.items():
                seconds, tokens, pairs = run()
                rates[name].append(tokens / seconds)
                pair_rates[name].append(pairs / seconds)
    medians = {name: statistics.median(r) for name, r in rates.items()}
    pair_medians = {name: statistics.median(r) for name, r in pair_rates.items()}
    results = {
        name: {
            "arguments": "" if name == "tutorial" else f"{SIZE} {variants[name]}",
            "target_tokens_per_second": round(rate, 1),
            "vs_tutorial": round(rate / medians["tutorial"], 2),
            "pairs_per_second": round(pair_medians[name], 1),
            "pairs_vs_tutorial": round(pair_medians[name] / pair_medians["tutorial"], 2),
        }
        for name, rate in medians.items()
    }
    save(
        "translate_train_speed" + (f"_{args.name}" if args.name else ""),
        {
            "command": "python benchmarks/translate_train_speed.py " + " ".join(sys.argv[1:]),
            "data": f"{Path(args.pairs_file).name}, train.py's training split (seed {args.seed}), batch 64",
            "protocol": f"{args.steps} fixed batches per system, a warm-up pass over them (tracing), then "
            f"{args.repeats} timed passes round-robin (train_on_batch); medians; one thread (pin the process "
            "to one core with taskset)",
            "results": results,
        },
    )


if __name__ == "__main__":
    main()
