"""What dynamic-range quantization costs the char-LM's LiteRT step model (GUIDE §5):
validation loss of the float32 and the quantized .tflite, side by side, and their sizes.

    python benchmarks/charlm_quantization.py [--epochs 4] [--run-dir runs/bench_charlm_quantization]

Trains (unless the run directory already holds a finished run) the quality
benchmark's model on tiny Shakespeare's first 90%, exports it with export.py,
then runs the last 10% through Keras and both step models as one stream (state
carried from character to character, as an app runs it): nats/char of each, how
often the quantized model's most likely next character is the float model's, the
largest logit difference to Keras, and the file sizes.
Results: benchmarks/results/charlm_quantization.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from charlm_quality import MODEL  # noqa: E402
from common import save  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def stream_logits(host, ids: np.ndarray) -> np.ndarray:
    """Logits after each character of `ids`, one LiteRT step per character."""
    state, out = host.zero_state(), np.empty([len(ids), len(host.meta["chars"]) + 1], np.float32)
    for i, token in enumerate(ids):
        out[i], state = host.step(int(token), state)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=4, help="full passes over the training split")
    parser.add_argument("--data", default="../shared/data/tinyshakespeare/input.txt")
    parser.add_argument("--run-dir", default="runs/bench_charlm_quantization")
    parser.add_argument("--eval-chars", type=int, default=0, help="validation characters to score (0 = all)")
    args = parser.parse_args()

    from keras_rnn import runs
    from keras_rnn.hosts.charlm import CharLMLiteRT
    from keras_rnn.tasks import charlm

    train_command = [
        "train.py",
        "--task",
        "charlm",
        "--text-file",
        args.data,
        "--epochs",
        str(args.epochs),
        "--run-dir",
        args.run_dir,
        *MODEL,
    ]
    run_dir = ROOT / args.run_dir
    if not runs.is_finished(run_dir):
        subprocess.run([sys.executable, *train_command], cwd=ROOT, check=True)
    with tempfile.TemporaryDirectory() as out:
        subprocess.run(
            [
                sys.executable,
                "export.py",
                "--task",
                "charlm",
                "--run-dir",
                str(run_dir),
                "--out",
                out,
                "--no-sample",
            ],
            cwd=ROOT,
            check=True,
        )
        litert = Path(out) / "litert" / "charlm" / "1"
        meta = litert / "charlm.json"
        hosts = {
            "float32": CharLMLiteRT(litert / "charlm_step.tflite", meta),
            "dynamic_range": CharLMLiteRT(litert / "charlm_step_drq.tflite", meta),
        }
        sizes = {
            name: (litert / f).stat().st_size
            for name, f in [("float32", "charlm_step.tflite"), ("dynamic_range", "charlm_step_drq.tflite")]
        }

        run = charlm.TASK.load(run_dir)
        cfg, vocab, model = run.config, run.vocab, run.model
        _, validation = charlm.load_corpus(cfg)
        ids = vocab.encode(validation)
        if args.eval_chars:
            ids = ids[: args.eval_chars + 1]
        inputs, targets = ids[:-1], ids[1:]
        logits, seconds = {}, {}
        started = time.monotonic()
        reference = charlm.build_model(cfg, vocab.size)  # float32, whatever --precision trained it
        reference.set_weights(model.get_weights())
        logits["keras"] = reference.predict(inputs[None, :], verbose=0)[0]
        seconds["keras"] = time.monotonic() - started
        for name, host in hosts.items():
            started = time.monotonic()
            logits[name] = stream_logits(host, inputs)
            seconds[name] = time.monotonic() - started

    def nats(x):
        return float(-log_softmax(x)[np.arange(len(targets)), targets].mean())

    loss = {name: nats(x) for name, x in logits.items()}
    trained = json.loads((run_dir / "metrics.json").read_text())  # val_loss there: 100-character windows
    save(
        "charlm_quantization",
        {
            "command": "python benchmarks/charlm_quantization.py " + " ".join(sys.argv[1:]),
            "train_command": "python " + " ".join(train_command),
            "data": f"tiny Shakespeare: trained on the first 90%, scored on the last 10% ({len(targets):,} "
            "characters, one stream, state carried)",
            "model": " ".join(MODEL),
            "epochs": args.epochs,
            "training": {
                k: trained.get(k)
                for k in ("train_seconds_this_session", "best_epoch", "best_val_loss", "finished")
            },
            "val_loss_nats_per_char": {k: round(v, 5) for k, v in loss.items()},
            "val_bits_per_char": {k: round(v / np.log(2), 5) for k, v in loss.items()},
            "quantized_minus_float_nats_per_char": round(loss["dynamic_range"] - loss["float32"], 5),
            "argmax_agreement_quantized_vs_float": round(
                float(np.mean(logits["dynamic_range"].argmax(-1) == logits["float32"].argmax(-1))), 5
            ),
            "max_abs_logit_diff_float_tflite_vs_keras": float(
                np.abs(logits["float32"] - logits["keras"]).max()
            ),
            "max_abs_logit_diff_quantized_vs_keras": float(
                np.abs(logits["dynamic_range"] - logits["keras"]).max()
            ),
            "tflite_bytes": sizes,
            "size_ratio_quantized_to_float": round(sizes["dynamic_range"] / sizes["float32"], 4),
            "scoring_seconds": {k: round(v, 1) for k, v in seconds.items()},
        },
    )


if __name__ == "__main__":
    main()
