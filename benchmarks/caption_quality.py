"""Captioning quality on generated scenes: show, attend and tell vs show and tell.

    python benchmarks/caption_quality.py --minutes 12 --parallel

Each `--attention` variant is trained with train.py on the same scenes, size and
wall-clock budget (`--parallel`: at the same time, one core each). The test scores
(exact match, BLEU-1..4 with sacrebleu, greedy decoding, 500 test scenes of their
own seed) and the attention localisation (share of generated shape words whose
attention peak lies on an object of that shape) are those train.py writes to
metrics.json for the best checkpoint. Results: benchmarks/results/caption_scenes.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import save, train_variants  # noqa: E402

REPORTED = (
    "epochs_run",
    "best_epoch",
    "best_val_loss",
    "test_exact_match",
    "test_bleu1",
    "test_bleu2",
    "test_bleu3",
    "test_bleu4",
    "test_attention_localisation",
    "test_examples",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--minutes", type=float, default=0, help="training budget per model (0 = none)")
    parser.add_argument("--attention", nargs="+", default=["bahdanau", "none"])
    parser.add_argument("--parallel", action="store_true", help="train the variants at once, one core each")
    args, extra = parser.parse_known_args()  # anything else goes to train.py
    variants = {
        attention: [
            "--attention",
            attention,
            "--epochs",
            str(args.epochs),
            "--patience",
            str(args.epochs),
            "--max-minutes",
            str(args.minutes),
            *extra,
        ]
        for attention in args.attention
    }
    results = {}
    for attention, (command, metrics) in train_variants("caption", variants, args.parallel).items():
        results[attention] = {
            "command": "python " + " ".join(command),
            "train_seconds": metrics.get("train_seconds_this_session"),
            **{k: metrics.get(k) for k in REPORTED},
        }
        print(attention, results[attention], flush=True)
    save(
        "caption_scenes",
        {
            "data": "generated scenes (keras_rnn.data.scenes): train seed 0, validation seed 10000, test seed 20000",
            "decoding": "greedy",
            "threads": "one core per variant, trained at the same time"
            if args.parallel
            else "all cores, one variant after the other",
            "results": results,
        },
    )


if __name__ == "__main__":
    main()
