"""Translation on real sentences, side by side with the TensorFlow tutorial's recipe.

    python benchmarks/translate_vs_tutorial.py --minutes 10                  # defaults vs the tutorial
    python benchmarks/translate_vs_tutorial.py --minutes 10 --no-tutorial \\
        --variant bahdanau="--attention bahdanau" --variant none="--attention none"

The pairs file (default: fra-eng, English -> French) is cut once, by the same seeded
80/10/10 shuffle train.py uses (seed 0), into train / validation / test files holding the
original lines. Every system then trains on the same files, for the same wall clock, on
one pinned core each, two at a time (this machine has two):

- each `--variant NAME=ARGS` is `train.py --task translate --pairs-file TRAIN
  --validation-file VALID --test-file TEST --max-minutes M ARGS` ("defaults": no ARGS, what
  a user types), then `export.py`, then the newest SavedModel version's greedy translations
  (`translate`, beam_width 1) of TEST, scored with sacrebleu against TEST's untouched
  references (cased) and case-insensitively; metrics.json's own test scores are kept beside
  them (they must be equal);
- the tutorial (`benchmarks/translate_tutorial.py`) as the tutorial has it: lowercased,
  scored against lowercased references (and, for the record, against the cased ones).

Results: benchmarks/results/translate_vs_tutorial_<name>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import save  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

SCORE = r"""
import json, sys
from pathlib import Path
import sacrebleu, tensorflow as tf
out, test_file, max_length = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
version = max((p for p in out.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
translate = tf.saved_model.load(str(version)).signatures["translate"]
lines = [l.rstrip("\r\n").split("\t") for l in test_file.read_text(encoding="utf-8").splitlines() if l.strip()]
sources, references = [l[0] for l in lines], [l[1].strip() for l in lines]
outputs = []
for i in range(0, len(sources), 256):
    got = translate(source=tf.constant(sources[i:i + 256]), beam_width=tf.constant(1),
                    max_length=tf.constant(max_length), length_penalty=tf.constant(0.0))["translation"]
    outputs += [t.decode("utf-8") for t in got.numpy()]
bleu, chrf, lower = sacrebleu.metrics.BLEU(), sacrebleu.metrics.CHRF(), sacrebleu.metrics.BLEU(lowercase=True)
print(json.dumps({"savedmodel_version": int(version.name), "test_pairs": len(sources),
                  "bleu": bleu.corpus_score(outputs, [references]).score,
                  "chrf": chrf.corpus_score(outputs, [references]).score,
                  "bleu_lowercase": lower.corpus_score(outputs, [references]).score,
                  "bleu_signature": str(bleu.get_signature()), "chrf_signature": str(chrf.get_signature()),
                  "examples": [{"source": s, "reference": r, "output": o}
                               for s, r, o in list(zip(sources, references, outputs))[:8]]}, ensure_ascii=False))
"""


def write_split(
    pairs_file: Path, seed: int, directory: Path, validation_file: Path | None
) -> dict[str, Path]:
    """train.py's 80/10/10 split of the file's non-blank lines, as files of the original lines; with a
    validation file of its own (bible-en-es), a seeded 10% of the pairs file is held out as the test."""
    from keras_rnn.data import parallel

    lines = [line for line in pairs_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    if validation_file:
        train, test, _ = parallel.split(lines, seed, test_fraction=0)
        validation = [
            line for line in validation_file.read_text(encoding="utf-8").splitlines() if line.strip()
        ]
    else:
        train, validation, test = parallel.split(lines, seed)
    files = {}
    for name, part in (("train", train), ("valid", validation), ("test", test)):
        files[name] = directory / f"{name}.tsv"
        files[name].write_text("\n".join(part) + "\n", encoding="utf-8")
    return files


def run(command: list, core: int, log: Path) -> None:
    env = {**os.environ, "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}
    with log.open("a") as out:
        subprocess.run(
            ["taskset", "-c", str(core), sys.executable, *map(str, command)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
        )


def project(name: str, args: list, files: dict, minutes: float, core: int, work: Path) -> dict:
    """train.py with `args` -> export.py -> the SavedModel's scores on the test file."""
    run_dir, out, log = work / name, work / f"{name}_out", work / f"{name}.log"
    data = ["--pairs-file", files["train"], "--validation-file", files["valid"], "--test-file", files["test"]]
    train = ["train.py", "--task", "translate", *data, "--max-minutes", str(minutes), *args]
    run([*train, "--run-dir", run_dir], core, log)
    run(["export.py", "--task", "translate", "--run-dir", run_dir, "--out", out, "--no-sample"], core, log)
    score = subprocess.run(
        # the longest output training's own test scores allow: the run's --max-target-len
        [
            "taskset",
            "-c",
            str(core),
            sys.executable,
            "-c",
            SCORE,
            out / "translate",
            files["test"],
            str(json.loads((run_dir / "config.json").read_text())["max_target_len"]),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {
        "command": "python " + " ".join(map(str, train)).replace(str(work) + "/", ""),
        "savedmodel_test": json.loads(score.stdout.strip().splitlines()[-1]),
        "metrics_json_test": {k: metrics.get(f"test_{k}") for k in ("bleu", "chrf", "bleu_lowercase")},
        "test_by_source_length": metrics.get("test_by_source_length"),
        "epochs_run": metrics.get("epochs_run"),
        "best_epoch": metrics.get("best_epoch"),
        "best_val_loss": metrics.get("best_val_loss"),
        "best_val_bleu": metrics.get("best_val_bleu"),  # what picks the checkpoint (--select-by bleu)
        "train_seconds": metrics.get("train_seconds_this_session"),
        "level": metrics.get("level"),
    }


def tutorial(files: dict, minutes: float, core: int, work: Path) -> dict:
    out = work / "tutorial.json"
    command = [
        "benchmarks/translate_tutorial.py",
        "--pairs-file",
        files["train"],
        "--validation-file",
        files["valid"],
        "--test-file",
        files["test"],
        "--minutes",
        str(minutes),
        "--out",
        out,
    ]
    run(command, core, work / "tutorial.log")
    result = json.loads(out.read_text())
    return {
        "command": "python " + " ".join(map(str, command)).replace(str(work) + "/", ""),
        "training": result["training"],
        "test": result["test"],
        "data": result["data"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs-file", default="../shared/data/fra-eng/fra.txt")
    parser.add_argument(
        "--validation-file",
        help="the corpus's own validation file (then 10%% of the pairs file is held out as the test split)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=ARGS",
        help='a train.py configuration, e.g. none="--attention none" (default: defaults="")',
    )
    parser.add_argument("--no-tutorial", action="store_true")
    parser.add_argument("--name", default="fra_eng")
    args = parser.parse_args()
    variants = dict(v.split("=", 1) for v in args.variant) if args.variant else {"defaults": ""}
    jobs = [
        (name, lambda core, work, a=a, n=name: project(n, a.split(), files, args.minutes, core, work))
        for name, a in variants.items()
    ]
    if not args.no_tutorial:
        jobs.append(("tutorial", lambda core, work: tutorial(files, args.minutes, core, work)))
    results, errors = {}, []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        validation = Path(args.validation_file) if args.validation_file else None
        files = write_split(Path(args.pairs_file), args.seed, work, validation)

        def worker(core: int) -> None:
            while jobs:
                name, job = jobs.pop(0)
                try:
                    results[name] = job(core, work)
                    print(name, json.dumps(results[name], ensure_ascii=False)[:600], flush=True)
                except subprocess.CalledProcessError as err:
                    errors.append(f"{name}: {err}; log: {(work / f'{name}.log').read_text()[-2000:]}")

        threads = [threading.Thread(target=worker, args=(core,)) for core in range(min(2, os.cpu_count()))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    if errors:
        raise SystemExit("\n".join(errors))
    save(
        f"translate_vs_tutorial_{args.name}",
        {
            "command": "python benchmarks/translate_vs_tutorial.py " + " ".join(sys.argv[1:]),
            "data": f"{Path(args.pairs_file).name}, seeded shuffle (seed {args.seed}) into "
            + (
                f"90% train / 10% test files of the original lines, validation {Path(args.validation_file).name}"
                if args.validation_file
                else "80/10/10 train / validation / test files of the original lines"
            )
            + "; column 1 -> 2",
            "budget": f"{args.minutes:g} minutes of training each, one pinned core each, two at a time",
            "scoring": "greedy; sacrebleu BLEU / chrF against the test file's untouched (cased) references; "
            "the tutorial also against lowercased references, as it outputs lowercase",
            "results": results,
        },
    )


if __name__ == "__main__":
    main()
