"""Serving throughput at batch sizes 1, 8 and 64: the exported SavedModels, in-process.

    python benchmarks/serving_batch_speed.py [--repeats 3] [--chars 100]

What one request carrying B items costs, for the char-LM's `generate` (B prompts, `--chars`
characters each, the default LSTM 256 x 2 with random weights: speed does not depend on them)
and the translator's `translate` (B sentences, greedy; the dates model trained one epoch).
Items per second at B = 1, 8, 64, medians of round-robin repeats. Results:
benchmarks/results/serving_batch_speed.json.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from common import round_robin_medians, save, train_quietly  # noqa: E402

from keras_rnn.data import parallel  # noqa: E402
from keras_rnn.data.text import CharVocabulary  # noqa: E402
from keras_rnn.export import writer  # noqa: E402
from keras_rnn.runs import Run  # noqa: E402
from keras_rnn.tasks import charlm, translate  # noqa: E402

BATCHES = (1, 8, 64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--chars", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        vocab = CharVocabulary(sorted(set("abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ.,\n")))
        cfg = charlm.Config()
        keras.utils.set_random_seed(0)
        model = charlm.build_model(cfg, vocab.size)
        written = writer.export(charlm.TASK.serving(Run(tmp, cfg, model, vocab)), tmp / "charlm")
        generate = tf.saved_model.load(str(written["savedmodel"])).signatures["generate"]
        train_quietly("translate", str(tmp / "run"), "--epochs", "1")
        written = writer.export(translate.TASK.serving(translate.TASK.load(tmp / "run")), tmp / "translate")
        translate_fn = tf.saved_model.load(str(written["savedmodel"])).signatures["translate"]
        sentences = [s for s, _ in parallel.dates(max(BATCHES), seed=20_000)]

        def generating(batch):
            return lambda: generate(
                prompt=tf.constant(["T"] * batch),
                num_chars=tf.constant(args.chars),
                temperature=tf.constant(1.0),
                top_k=tf.constant(0),
                seed=tf.constant(0),
            )

        def translating(batch):
            return lambda: translate_fn(
                source=tf.constant(sentences[:batch]),
                beam_width=tf.constant(1),
                max_length=tf.constant(20),
                length_penalty=tf.constant(0.0),
            )

        variants = {f"generate, batch {b}": generating(b) for b in BATCHES}
        variants |= {f"translate, batch {b}": translating(b) for b in BATCHES}
        seconds = round_robin_medians(variants, args.repeats)
    results = {}
    for name, value in seconds.items():
        batch = int(name.rsplit(" ", 1)[1])
        results[name] = {"seconds_per_request": round(value, 4), "items_per_second": round(batch / value, 1)}
        print(f"{name:22} {results[name]['items_per_second']:>8} items/s ({value * 1000:.0f} ms a request)")
    save(
        "serving_batch_speed",
        {
            "command": f"python benchmarks/serving_batch_speed.py --repeats {args.repeats} --chars {args.chars}",
            "models": "char-LM defaults (LSTM 256 x 2, random weights), generate "
            f"{args.chars} characters per prompt; translator: dates, one epoch, greedy",
            "results": results,
        },
    )


if __name__ == "__main__":
    main()
