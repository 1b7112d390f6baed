"""The long hostile-input sweep: the cases of tests/test_hostile.py, many more of them.

    python benchmarks/hostile_sweep.py --cases 5000

Trains and exports the test suite's tiny model of each task (char-LM, translation, captioning,
echo state network), then sends seeded hypothesis-generated requests to every exported
signature (in a process that cannot import keras) and command lines to every LiteRT host
(in a process that never imports TensorFlow), and counts the outcomes per target: a valid
answer, a clear error, or anything else (with the first such cases and why). Four fifths of the
cases go to the signatures, one fifth to the hosts; then the hosts get hand-broken metadata
files and export.py / predict.py damaged copies of the char-LM run (16 more cases).

Results: benchmarks/results/hostile_sweep.json.
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from common import save  # noqa: E402

from tests import conftest, hostile  # noqa: E402
from tests.test_caption import TRAIN_ARGS as CAPTION_ARGS  # noqa: E402
from tests.test_esn import SMALL as ESN_OPTIONS  # noqa: E402
from tests.test_translate import TRAIN_ARGS as TRANSLATE_ARGS  # noqa: E402
from tests.test_translate import tiny_pairs_file  # noqa: E402


def cli(*args) -> None:
    subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, check=True, capture_output=True)


def make_models(root: Path) -> Path:
    """The four tiny models, trained and exported into root/out (as the test suite makes them)."""
    out = root / "out"
    corpus = root / "tiny.txt"
    corpus.write_text(conftest.make_corpus(), encoding="utf-8")
    esn_args = [x for k, v in ESN_OPTIONS.items() for x in (f"--{k.replace('_', '-')}", v)]
    for task, args in {
        "charlm": ["--text-file", corpus, *conftest.TRAIN_ARGS],
        "translate": ["--pairs-file", tiny_pairs_file(root / "pairs.tsv"), *TRANSLATE_ARGS],
        "caption": CAPTION_ARGS,
        "esn": esn_args,
    }.items():
        print(f"training and exporting the tiny {task} model ...", flush=True)
        cli("train.py", "--task", task, "--run-dir", root / task, *args)
        cli("export.py", "--task", task, "--run-dir", root / task, "--out", out, "--no-sample")
    return out


def sweep(cases: int, out: Path, image_dir: Path) -> dict:
    counts = collections.defaultdict(collections.Counter)
    others = []
    models = {task: str(out / task / "1") for task in ("charlm", "translate", "caption", "esn")}
    savedmodels = hostile.Worker(hostile.SAVEDMODEL_WORKER, json.dumps(models))
    hosts = hostile.Worker(hostile.HOST_WORKER)
    litert = out / "litert"
    commands = {
        "charlm": (
            "keras_rnn.hosts.charlm",
            [
                str(litert / "charlm" / "1" / "charlm_step.tflite"),
                str(litert / "charlm" / "1" / "charlm.json"),
            ],
        ),
        "translate": ("keras_rnn.hosts.translate", [str(litert / "translate" / "1")]),
        "caption": ("keras_rnn.hosts.caption", [str(litert / "caption" / "1")]),
    }
    per_model, per_host = cases * 4 // 5 // len(models), cases // 5 // len(commands)

    def run(label: str, examples: int, strategy, outcome_of) -> None:
        """`examples` seeded cases drawn from `strategy`; `outcome_of(case)` -> (outcome, why, shown)."""

        @settings(
            max_examples=examples, deadline=None, derandomize=True, database=None,
            suppress_health_check=list(HealthCheck),
        )  # fmt: skip
        @given(case=strategy)
        def one(case):
            outcome, why, shown = outcome_of(case)
            counts[label(case)][outcome] += 1
            if outcome == "other" and len(others) < 30:
                others.append({"case": shown, "why": why})

        one()

    def savedmodel_outcome(case):
        return (*hostile.judge_savedmodel(case, savedmodels.ask(case)), hostile.summary(case))

    def host_outcome(case):
        return (*hostile.judge_host(hosts.ask(case)), case["argv"][:8])

    for model in models:
        run(
            lambda case: f"savedmodel {case['model']}/{case['signature']}",
            per_model,
            hostile.savedmodel_case(savedmodels.info, model),
            savedmodel_outcome,
        )
    for host, command in commands.items():
        run(
            lambda case, host=host: f"host {host}",
            per_host,
            hostile.host_case({host: command}, image_dir),
            host_outcome,
        )
    for name, case in hostile.broken_sidecars(commands, image_dir).items():  # hand-broken NAME.json
        outcome, why, shown = host_outcome(case)
        counts["host broken metadata"][outcome] += 1
        if outcome == "other":
            others.append({"case": [name, *shown], "why": why})
    for command, outcome, why in damaged_runs(out.parent / "charlm", out.parent / "damaged"):
        counts[f"{command} damaged run"][outcome] += 1
        if outcome == "other":
            others.append({"case": command, "why": why})
    savedmodels.close()
    hosts.close()
    total = collections.Counter()
    for counter in counts.values():
        total.update(counter)
    return {
        "total": dict(total),
        "per_target": {k: dict(v) for k, v in sorted(counts.items())},
        "others": others,
    }


def damaged_runs(run_dir: Path, directory: Path):
    """(command, outcome, why) of export.py and predict.py on copies of the char-LM run with one
    file damaged each (tests/test_faults.py's DAMAGES): an error is exit code 2, one `error:` line."""
    from tests.test_faults import DAMAGES, damaged_copy

    directory.mkdir()
    for name, damage, _ in DAMAGES:
        copy = damaged_copy(run_dir, directory, name, damage)
        for command, extra in (
            ("export.py", ["--out", directory / "out"]),
            ("predict.py", ["--num-chars", "5"]),
        ):
            proc = subprocess.run(
                [sys.executable, command, "--task", "charlm", "--run-dir", copy, *extra],
                cwd=ROOT, capture_output=True, text=True,
            )  # fmt: skip
            lines = proc.stderr.strip().splitlines()
            clear = (
                proc.returncode == 2
                and lines
                and lines[-1].startswith("error: ")
                and "Traceback" not in proc.stderr
            )
            yield (
                command,
                "error" if clear else "other",
                f"{name}: exit {proc.returncode}: {proc.stderr[-300:]}",
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        out = make_models(root)
        image_dir = root / "images"
        image_dir.mkdir()
        for name, data in hostile.IMAGES.items():
            (image_dir / name).write_bytes(data)
        started = time.monotonic()
        result = sweep(args.cases, out, image_dir)
    save(
        "hostile_sweep",
        {
            "command": f"python benchmarks/hostile_sweep.py --cases {args.cases}",
            "models": "the test suite's tiny char-LM, translation, captioning and ESN models, trained here",
            "bounds": {"seconds_per_case": hostile.TIME_LIMIT, "memory_growth_mb": hostile.MEMORY_LIMIT_MB},
            "sweep_seconds": round(time.monotonic() - started, 1),
            **result,
        },
    )


if __name__ == "__main__":
    main()
