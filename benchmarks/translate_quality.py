"""Translation quality, attention vs the classic encoder-decoder of the same size and budget.

    python benchmarks/translate_quality.py                      # generated dates task
    python benchmarks/translate_quality.py --pairs-file ../shared/data/fra-eng/fra.txt \\
        --name fra_eng --minutes 10 --units 128
    python benchmarks/translate_quality.py --pairs-file ../shared/data/bible-en-es/train.tsv \
        --validation-file ../shared/data/bible-en-es/valid.tsv --name bible_en_es --minutes 30 --units 128

Each `--attention` variant is trained with train.py on the same data, size and
wall-clock budget; the test scores (exact match, BLEU, chrF with sacrebleu, greedy
decoding) are those train.py writes to metrics.json for the best checkpoint.
Pairs files are split by a seeded shuffle: 80% train, 10% validation, 10% test (seed 0);
with --validation-file, pass --test-file too (other options go to train.py as they are):
a validation file only picks checkpoints, so without a test file there are no test scores.
Test scores are also given per source-length bucket (tokens).
Results: benchmarks/results/translate_<name>.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import save, train_variants  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs-file", default=None, help="default: the generated dates task")
    parser.add_argument(
        "--validation-file", default=None, help="held-out pairs (default: split off --pairs-file)"
    )
    parser.add_argument("--name", default="dates", help="results file: translate_<name>.json")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--minutes", type=float, default=0, help="training budget per model (0 = none)")
    parser.add_argument("--units", type=int, default=64)
    parser.add_argument("--attention", nargs="+", default=["bahdanau", "none"])
    parser.add_argument("--parallel", action="store_true", help="train the variants at once, one core each")
    args, extra = parser.parse_known_args()  # anything else goes to train.py
    data = ["--pairs-file", args.pairs_file] if args.pairs_file else []
    data += ["--validation-file", args.validation_file] if args.validation_file else []
    variants = {
        attention: [
            *data,
            "--attention",
            attention,
            "--epochs",
            str(args.epochs),
            "--units",
            str(args.units),
            "--patience",
            str(args.epochs),
            "--max-minutes",
            str(args.minutes),
            *extra,
        ]
        for attention in args.attention
    }
    results = {}
    for attention, (command, metrics) in train_variants("translate", variants, args.parallel).items():
        results[attention] = {
            "command": "python " + " ".join(command),
            "train_seconds": metrics.get("train_seconds_this_session"),
            **{
                k: metrics.get(k)
                for k in (
                    "epochs_run",
                    "best_epoch",
                    "test_exact_match",
                    "test_bleu",
                    "test_chrf",
                    "best_val_loss",
                    "test_by_source_length",
                )
            },
        }
        print(attention, results[attention], flush=True)
    save(
        f"translate_{args.name}",
        {
            "data": args.pairs_file
            and Path(args.pairs_file).name
            or "generated dates (train seed 0, test seed 20000)",
            "split": f"train on all of it, report on {Path(args.validation_file).name}"
            if args.validation_file
            else "seeded shuffle, 80/10/10 train/validation/test, seed 0"
            if args.pairs_file
            else "10,000 train / 1,000 validation / 1,000 test dates, separate seeds",
            "decoding": "greedy",
            "threads": "one core per variant, trained at the same time"
            if args.parallel
            else "all cores, one variant after the other",
            "results": results,
        },
    )


if __name__ == "__main__":
    main()
