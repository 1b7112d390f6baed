"""Trained on a GPU, served anywhere: one command that checks the path on the machine at hand.

    python benchmarks/gpu_check.py            # ~6 min on one GPU; its CPU half ~10 min on 2 cores

With a GPU: each family trains briefly with its defaults in float32 and in mixed_float16 (and,
for the throughput column, in float32 on the CPU), the script records whether Keras traced
cuDNN kernels in training where the model is eligible, exports each run, and computes the
answers of the task's serving functions in Keras on the GPU (TF32 off). Then a fresh process
with no GPU visible (`CUDA_VISIBLE_DEVICES=""`) loads every SavedModel and .tflite, checks that
no GPU-only op and no half-precision input or output is in them, and compares their answers
with the GPU's.

Without a GPU it says so and runs its CPU half: the same runs in float32 and mixed_bfloat16,
each exported while Keras' GPU check is patched to say a GPU is present (what it sees on a GPU
machine, as the tests do), answers compared in a fresh process.

Translation runs every --attention (bahdanau, luong, cross, none) in mixed precision, the
default (cross) in float32 as well; classification both --model rnn and esn, in both precisions;
tagging on CoNLL files made from this project's docs.
Prints a table; the JSON goes to benchmarks/results/gpu_check.json (gpu_check_cpu.json for the
CPU half). Exit status 0 when every export loads on the CPU, converts to LiteRT builtins and
answers as the Keras model did, and (on a GPU) cuDNN ran in training wherever the model is
eligible; 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import keras

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Each family's brief run: its defaults (model sizes, data) with a short budget.
BRIEF = {
    "charlm": [
        "--epochs",
        "2",
        "--steps-per-epoch",
        "20",
        "--validation-batches",
        "4",
        "--sample-length",
        "20",
    ],
    "translate": [
        "--epochs",
        "2",
        "--steps-per-epoch",
        "20",
        "--dates-train",
        "2000",
        "--dates-eval",
        "64",
        "--eval-sentences",
        "32",
        "--heatmaps",
        "0",
    ],
    "caption": ["--epochs", "2", "--scenes-train", "320", "--scenes-eval", "32", "--steps-per-epoch", "10"],
    "esn": [],
    "classify": ["--epochs", "2", "--generated", "300"],
    "tag": ["--epochs", "2", "--steps-per-epoch", "20"],  # + CoNLL files made by `tag_files`
}
ATTENTIONS = ["cross", "bahdanau", "luong", "none"]
TOLERANCE = 1e-4  # float32 answers (LiteRT parity in GUIDE §5); text must be equal


def cases(mixed: str) -> list[dict]:
    """(task, precision, extra options) of every run."""
    out = []
    for task in ("charlm", "translate", "caption", "esn", "classify", "tag"):
        precisions = ["float64", "float32"] if task == "esn" else ["float32", mixed]
        for precision in precisions:
            variants = [None]
            if task == "translate" and precision == mixed:
                variants = [("--attention", a) for a in ATTENTIONS]
            if task == "classify":  # series: the ESN by default, the recurrent stack on request
                variants = [("--model", m) for m in ("rnn", "esn")]
            for variant in variants:
                extra = list(variant or ())
                name = "-".join([task, precision] + ([variant[1]] if variant else []))
                out.append({"name": name, "task": task, "precision": precision, "extra": extra})
    return out


def tag_files(work: Path) -> list[str]:
    """Punctuation-tagging CoNLL files made from this project's own docs (offline, as the tests'
    tiny text is not a package file): the tagger's --train/--validation/--test-file options."""
    from keras_rnn.data import punctuation

    text = "\n".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "docs").glob("*.md")))
    (work / "text.txt").write_text(text, encoding="utf-8")
    punctuation.make_files(work / "text.txt", work / "conll", seed=0)
    names = {"train": "train", "validation": "valid", "test": "test"}
    return [
        arg
        for split, name in names.items()
        for arg in (f"--{split}-file", str(work / "conll" / f"{name}.conll"))
    ]


# ---------------------------------------------------------------- one run (in its own process)
class Throughput(keras.callbacks.Callback):
    """Training steps per second after the first epoch (tracing and compiling excluded)."""

    steps, seconds, epoch = 0, 0.0, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        self.begin = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch >= 1:
            self.steps += 1
            self.seconds += time.perf_counter() - self.begin


def count_cudnn_traces() -> dict:
    """Wrap Keras' cuDNN GRU/LSTM kernels: how often a training function was traced with them."""
    rnn = sys.modules["keras.src.backend.tensorflow.rnn"]
    counts = {"gru": 0, "lstm": 0}
    for kind in counts:
        real = getattr(rnn, f"_cudnn_{kind}")

        def counted(*args, _real=real, _kind=kind, **kwargs):
            counts[_kind] += 1
            return _real(*args, **kwargs)

        setattr(rnn, f"_cudnn_{kind}", counted)
    return counts


def run_case(case: dict, work: Path, patch_export: bool, export: bool) -> dict:
    """Train, export and answer one case in this process; returns its record."""
    import tensorflow as tf

    from keras_rnn import config as config_lib
    from keras_rnn import runs, tasks, training
    from keras_rnn.export import answers, writer

    tf.config.experimental.enable_tensor_float_32_execution(False)  # GPU references in full float32
    task = tasks.get(case["task"])
    parser = argparse.ArgumentParser()
    config_lib.add_arguments(parser, task.Config)
    args = BRIEF[case["task"]] + case["extra"] + ["--precision", case["precision"]]
    if case["task"] == "tag":
        args += tag_files(work)
    cfg = config_lib.from_args(task.Config, parser.parse_args(args))
    run_dir = runs.prepare_run_dir(task.name, cfg, str(work / "run"))
    cudnn = count_cudnn_traces()
    timer = Throughput()
    training.train(task, cfg, run_dir, extra_callbacks=[timer])
    trained = keras.saving.load_model(run_dir / runs.MODEL_FILE, compile=False)
    recurrent = [
        layer
        for layer in trained._flatten_layers()
        if isinstance(layer, (keras.layers.LSTM, keras.layers.GRU))
    ]
    record = {
        "device": "GPU" if tf.config.list_logical_devices("GPU") else "CPU",
        "steps_per_second": round(timer.steps / timer.seconds, 2) if timer.seconds else None,
        "cudnn_eligible": any(not layer.recurrent_dropout for layer in recurrent),  # GUIDE §3's conditions
        "cudnn_traces": sum(cudnn.values()),
    }
    if not export:
        return record
    spec = task.serving(task.load(run_dir))
    rnn = sys.modules["keras.src.backend.tensorflow.rnn"]
    real = rnn._is_gpu_available
    if patch_export:
        rnn._is_gpu_available = lambda: True
    try:
        written = writer.export(spec, work / "exported")
    finally:
        rnn._is_gpu_available = real
    with open(work / "keras_answers.pkl", "wb") as f:
        pickle.dump(answers.keras_answers(spec), f)
    record.update(savedmodel=str(written["savedmodel"]), litert=str(written["litert"][0].parent))
    return record


# ---------------------------------------------------------------- every export, on the CPU alone
def verify(records: list[dict]) -> None:
    """In a process that sees no GPU: load each export, check it, compare its answers."""
    import tensorflow as tf

    from keras_rnn import UserError
    from keras_rnn.export import answers, writer

    assert not tf.config.list_logical_devices("GPU")
    for record in records:
        if "savedmodel" not in record:
            continue
        savedmodel, litert = Path(record["savedmodel"]), Path(record["litert"])
        try:
            served = answers.savedmodel_answers(savedmodel)
            record["loads_on_cpu"] = True
        except Exception as error:  # noqa: BLE001 - reported in the table
            record.update(loads_on_cpu=False, error=f"{type(error).__name__}: {error}"[:300])
            continue
        try:
            writer.check_savedmodel_is_portable(savedmodel)
            for path in litert.glob("*.tflite"):
                writer.check_litert_is_portable(path.name, path.read_bytes())
            record["litert_builtins"] = True
        except UserError as error:
            record.update(litert_builtins=False, error=str(error))
        expected = pickle.loads((savedmodel.parents[2] / "keras_answers.pkl").read_bytes())
        found = answers.differences({**served, **answers.litert_answers(litert)}, expected, TOLERANCE)
        record["answers_match"] = not found
        if found:
            record["differences"] = found[:5]


# ---------------------------------------------------------------- driver
def table(records: list[dict], gpu: bool) -> str:
    mark = {True: "yes", False: "NO", None: "-"}
    head = (
        "| run | trained on | steps/s | cuDNN in training | loads on CPU | LiteRT builtins | answers match |"
    )
    rows = [head, "|" + "---|" * 7]
    for r in records:
        cudnn = (
            "-"
            if not gpu or r["device"] != "GPU"
            else (
                f"yes ({r['cudnn_traces']} traces)"
                if r["cudnn_traces"]
                else ("NO" if r["cudnn_eligible"] else "not eligible")
            )
        )
        rows.append(
            f"| {r['name']} | {r['device']} | {r['steps_per_second'] or '-'} | {cudnn} | {mark[r.get('loads_on_cpu')]} "
            f"| {mark[r.get('litert_builtins')]} | {mark[r.get('answers_match')]} |"
        )
    return "\n".join(rows)


def passed(record: dict, gpu: bool) -> bool:
    if "savedmodel" not in record:  # a throughput-only run
        return True
    ok = all(record.get(k) for k in ("loads_on_cpu", "litert_builtins", "answers_match"))
    if gpu and record["device"] == "GPU" and record["cudnn_eligible"]:
        ok = ok and record["cudnn_traces"] > 0
    return ok


def child(args: list[str], env: dict) -> None:
    proc = subprocess.run(
        [sys.executable, __file__, *args], env=env, cwd=ROOT, capture_output=True, text=True
    )
    if proc.returncode:
        raise SystemExit(f"error: {' '.join(args[:3])} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", help="run only these runs (names as in the table)")
    parser.add_argument("--work-dir", help="keep the runs and exports here (default: a temporary directory)")
    parser.add_argument("--_case", help=argparse.SUPPRESS)
    parser.add_argument("--_verify", help=argparse.SUPPRESS)
    parser.add_argument("--_patch-export", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--_no-export", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._case:  # one run, in its own process
        work = Path(args._case)
        record = run_case(
            json.loads((work / "case.json").read_text()), work, args._patch_export, not args._no_export
        )
        (work / "record.json").write_text(json.dumps(record))
        return 0
    if args._verify:
        records = json.loads(Path(args._verify).read_text())
        verify(records)
        Path(args._verify).write_text(json.dumps(records))
        return 0

    import tensorflow as tf

    from benchmarks.common import save

    gpu = bool(tf.config.list_physical_devices("GPU"))
    if not gpu:
        print(
            "No GPU visible: running the CPU half (mixed_bfloat16; exports made with Keras' GPU check patched)."
        )
    runs = cases("mixed_float16" if gpu else "mixed_bfloat16")
    if gpu:  # the same float32 runs on the CPU, for the throughput column
        runs += [{**c, "name": c["name"] + "-cpu", "cpu": True} for c in runs if c["precision"] == "float32"]
    if args.only:
        runs = [c for c in runs if c["name"] in args.only]
    root = Path(args.work_dir or tempfile.mkdtemp(prefix="gpu-check-"))
    base_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    started, records = time.monotonic(), []
    for case in runs:
        work = root / case["name"]
        work.mkdir(parents=True, exist_ok=True)
        (work / "case.json").write_text(json.dumps(case))
        env = {**base_env, "CUDA_VISIBLE_DEVICES": ""} if case.get("cpu") else base_env
        flags = ["--_no-export"] if case.get("cpu") else ([] if gpu else ["--_patch-export"])
        print(f"[{time.monotonic() - started:6.0f} s] {case['name']} ...", flush=True)
        child(["--_case", str(work), *flags], env)
        records.append({**case, **json.loads((work / "record.json").read_text())})
    print(
        f"[{time.monotonic() - started:6.0f} s] loading every export where no GPU is visible ...", flush=True
    )
    (root / "records.json").write_text(json.dumps(records))
    child(["--_verify", str(root / "records.json")], {**base_env, "CUDA_VISIBLE_DEVICES": ""})
    records = json.loads((root / "records.json").read_text())
    print("\n" + table(records, gpu) + "\n")
    ok = all(passed(r, gpu) for r in records)
    for r in records:
        if not passed(r, gpu):
            print(
                f"FAILED {r['name']}: {r.get('error') or r.get('differences') or 'cuDNN not used in training'}"
            )
    minutes = round((time.monotonic() - started) / 60, 1)
    print(f"{'all checks passed' if ok else 'some checks failed'} in {minutes} min")
    if not args.only:
        for r in records:
            r.pop("savedmodel", None), r.pop("litert", None)
        save(
            "gpu_check" if gpu else "gpu_check_cpu",
            {
                "command": "python benchmarks/gpu_check.py",
                "gpu": gpu,
                "passed": ok,
                "minutes": minutes,
                "tolerance": TOLERANCE,
                "runs": records,
            },
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
