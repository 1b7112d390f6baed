"""Translation decoding throughput (sentences/second), in-graph vs a per-step Python loop.

    python benchmarks/translate_speed.py [--epochs 3] [--sentences 128] [--repeats 3]

Trains a small dates model (train.py, `--epochs`), exports it, then translates
the same test sentences at batch 1 and batch 64 with
  (a) a Python loop calling one tf.function per output token (greedy),
  (b) the exported SavedModel `translate` signature, greedy (beam 1) and beam 4,
      the whole search inside the graph, no XLA (as a stock TF Serving runs it).
Medians of --repeats runs. Results: benchmarks/results/translate_speed.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tensorflow as tf  # noqa: E402
from common import save, train_quietly  # noqa: E402

from keras_rnn.data import parallel  # noqa: E402
from keras_rnn.export import writer  # noqa: E402
from keras_rnn.tasks import translate  # noqa: E402


class PythonLoopTranslator:
    """Greedy decoding driven from Python: one tf.function call per output token."""

    def __init__(self, translator: translate.TranslateServing, max_length: int):
        self.t, self.max_length = translator, max_length
        # reduce_retracing: source lengths vary; without it every new length would retrace
        self.source = tf.function(translator.vectorizer.source, reduce_retracing=True)
        self.start = tf.function(self.start_decoder, reduce_retracing=True)
        self.step = tf.function(translator.decoder.step, reduce_retracing=True)

    def start_decoder(self, source_ids):
        return self.t.decoder.start(*self.t.encode(source_ids))

    def __call__(self, sentences: list[str]) -> list[str]:
        ids, _ = self.source(tf.constant(sentences))
        constants, state = self.start(ids)
        tokens = tf.fill([len(sentences)], translate.TARGET_START_ID)
        finished = tf.zeros([len(sentences)], tf.bool)
        out = []
        for _ in range(self.max_length):
            logits, state, _ = self.step(tokens, state, constants)
            best = tf.argmax(logits, axis=-1, output_type=tf.int32)
            tokens = tf.where(finished, 0, best)
            out.append(tokens)
            finished |= best == translate.TARGET_END_ID
            if bool(tf.reduce_all(finished)):
                break
        words = tf.gather(self.t.id_to_token, tf.stack(out, axis=1))
        separator = "" if self.t.level == "char" else " "
        return [w.decode() for w in tf.strings.reduce_join(words, axis=1, separator=separator).numpy()]


def rate(fn, batches: list[list[str]], repeats: int) -> float:
    for batch in batches[:3]:  # warm-up (tracing)
        fn(batch)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for batch in batches:
            fn(batch)
        times.append(time.perf_counter() - start)
    return sum(map(len, batches)) / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--sentences", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        train_quietly("translate", str(run_dir), "--epochs", str(args.epochs))
        run = translate.TASK.load(run_dir)
        cfg, vocab, model = run.config, run.vocab, run.model
        written = writer.export(translate.TASK.serving(run), Path(tmp) / "out")
        signature = tf.saved_model.load(str(written["savedmodel"])).signatures["translate"]
        max_length = 20
        loop = PythonLoopTranslator(translate.TranslateServing(model, vocab, cfg), max_length)
        sentences = [s for s, _ in parallel.dates(args.sentences, seed=20_000)]

        def served(beam):
            return lambda batch: signature(
                source=tf.constant(batch),
                beam_width=tf.constant(beam),
                max_length=tf.constant(max_length),
                length_penalty=tf.constant(0.0),
            )

        results = {}
        for batch_size in (1, 64):
            batches = [sentences[i : i + batch_size] for i in range(0, len(sentences), batch_size)]
            rates = {
                "a_python_loop_greedy": rate(loop, batches, args.repeats),
                "b_savedmodel_greedy": rate(served(1), batches, args.repeats),
                "b_savedmodel_beam4": rate(served(4), batches, args.repeats),
            }
            results[f"batch_{batch_size}"] = {
                "sentences_per_second": {k: round(v, 1) for k, v in rates.items()},
                "speedup_vs_a": {k: round(v / rates["a_python_loop_greedy"], 2) for k, v in rates.items()},
            }
            print(batch_size, results[f"batch_{batch_size}"], flush=True)
    save(
        "translate_speed",
        {
            "command": "python benchmarks/translate_speed.py " + " ".join(sys.argv[1:]),
            "model": f"dates task, {cfg.cell} {cfg.units} units, {cfg.attention} attention, "
            f"{args.epochs} epochs",
            "max_length": max_length,
            "sentences": args.sentences,
            "results": results,
        },
    )


if __name__ == "__main__":
    main()
