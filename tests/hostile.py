"""A hostile user's requests, generated: the exported signatures and the LiteRT host commands
under a seeded hypothesis sweep (tests/test_hostile.py runs a bounded part of it on every
test run; benchmarks/hostile_sweep.py runs the long one and counts the outcomes).

Every case ends in one of three outcomes:
- `answer`: a valid answer (every output as many rows as the request, floats finite; a host
  exits 0, no answer line ending in NaN or inf);
- `error`: a clear error (the SavedModel: an InvalidArgument from the graph or TensorFlow's
  own error for a shape or type the signature cannot take, and not one of the internal
  messages of a missed check in INTERNAL; a host: exit code 2 and one `error:` line);
- `other`: anything else (another exception, a traceback, a crash, over TIME_LIMIT seconds
  or MEMORY_LIMIT_MB of growth).

The cases run in two long-lived worker processes, as a server would run them: one loads the
SavedModels in a process where keras and keras_rnn cannot be imported (TF Serving's view),
the other calls the hosts' `main` in a process that never imports TensorFlow.
"""

from __future__ import annotations

import base64
import io
import json
import math
import os
import select
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
from hypothesis import strategies as st

from keras_rnn import limits

ROOT = Path(__file__).resolve().parent.parent
TIME_LIMIT = 10.0  # seconds per case (the slowest valid case here, beam 16 x 512 steps, takes ~1 s)
MEMORY_LIMIT_MB = 300  # growth of the worker's peak memory during one case
HARD_TIMEOUT = 60.0  # a case still running after this is killed (outcome `other`)
# Messages of TensorFlow kernels that a request reached without being checked first
INTERNAL = (
    "Tried to stack",
    "indices[",
    "out of bound",
    "Incompatible shapes",
    "ConcatOp",
    "Matrix size-incompatible",
    "Input to reshape",
    "In[0] mismatch In[1]",
)

SAVEDMODEL_WORKER = r"""
import base64, json, resource, sys, time, traceback
sys.modules["keras"] = sys.modules["keras_rnn"] = None
import numpy as np
import tensorflow as tf
signatures, specs = {}, {}
for model, path in json.loads(sys.argv[1]).items():
    loaded = tf.saved_model.load(path)
    for name, fn in loaded.signatures.items():
        signatures[model, name] = fn
        specs.setdefault(model, {})[name] = {
            k: {"dtype": s.dtype.name, "shape": s.shape.as_list()}
            for k, s in fn.structured_input_signature[1].items()}
print(json.dumps(specs), flush=True)
def value(v):
    if v["dtype"] == "string":
        array = np.array([base64.b64decode(x) for x in v["b64s"]] + [b""], dtype=object)[:-1]
        return tf.constant(array.reshape(v["shape"]), tf.string)
    return tf.constant(np.array(v["value"], dtype=v["dtype"]).reshape(v["shape"]))
for line in sys.stdin:
    case = json.loads(line)
    before, start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter()
    try:
        fn = signatures[case["model"], case["signature"]]
        out = fn(**{k: value(v) for k, v in case["inputs"].items()})
        reply = {"outcome": "answer", "outputs": {
            k: {"shape": t.shape.as_list(),
                "finite": bool(np.all(np.isfinite(t.numpy()))) if t.dtype.is_floating else True,
                "texts": [v.decode("utf-8", "replace")[:200] for v in t.numpy().ravel()[:4]]
                if t.dtype == tf.string else None}
            for k, t in out.items()}}
    except (tf.errors.InvalidArgumentError, TypeError, ValueError) as err:
        reply = {"outcome": "error", "type": type(err).__name__, "message": str(err)[:2000]}
    except Exception as err:
        reply = {"outcome": "other", "type": type(err).__name__, "message": traceback.format_exc()[-2000:]}
    reply["seconds"] = time.perf_counter() - start
    reply["memory_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    print(json.dumps(reply), flush=True)
"""

HOST_WORKER = r"""
import contextlib, importlib, io, json, resource, sys, time, traceback
print("{}", flush=True)
for line in sys.stdin:
    case = json.loads(line)
    before, start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter()
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = importlib.import_module(case["module"]).main(case["argv"])
    except SystemExit as exit:
        code = exit.code
    except BaseException:
        code, err = None, io.StringIO(traceback.format_exc())
    reply = {"exit": code, "stdout": out.getvalue()[-500:], "stderr": err.getvalue()[-2000:],
             "seconds": time.perf_counter() - start,
             "memory_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024,
             "tensorflow": "tensorflow" in sys.modules}
    print(json.dumps(reply), flush=True)
"""


class Worker:
    """One long-lived process that answers cases, one JSON line each; restarted when a case
    kills it or runs past HARD_TIMEOUT (that case's outcome is `other`)."""

    def __init__(self, script: str, *args: str):
        self.command = [sys.executable, "-c", script, *args]
        self.process = None
        self.info = self._start()

    def _start(self):
        self.process = subprocess.Popen(
            self.command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        return json.loads(self.process.stdout.readline())

    def ask(self, case: dict) -> dict:
        self.process.stdin.write(json.dumps(case) + "\n")
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], HARD_TIMEOUT)
        line = self.process.stdout.readline() if ready else ""
        if line:
            return json.loads(line)
        self.process.kill()
        self.process.wait()
        died = f"the worker died (exit {self.process.returncode})" if ready else "no answer in time"
        self._start()
        return {"outcome": "other", "message": died, "seconds": HARD_TIMEOUT, "memory_mb": 0}

    def close(self):
        self.process.stdin.close()
        self.process.wait(timeout=30)


# ---------------------------------------------------------------- judging
def judge_savedmodel(case: dict, reply: dict) -> tuple[str, str]:
    """(outcome, why) of a SavedModel case."""
    if reply["outcome"] == "other":  # another exception, or the worker died or hung
        return "other", reply["message"][-300:]
    bound = over_bounds(reply)
    if bound:
        return "other", bound
    if reply["outcome"] == "error":
        internal = [m for m in INTERNAL if m in reply["message"]]
        return ("other", f"unchecked: {reply['message'][:300]}") if internal else ("error", "")
    refuse = must_refuse(case)
    if refuse:
        return "other", f"answered, but {refuse}"
    rows = {v["shape"][0] for v in case["inputs"].values() if v.get("batched")}
    for name, output in reply["outputs"].items():
        if not output["finite"]:
            return "other", f"non-finite {name}"
        if len(rows) != 1 or output["shape"][:1] != list(rows):
            return "other", f"{name} has shape {output['shape']} for request rows {sorted(rows)}"
    return "answer", ""


def must_refuse(case: dict) -> str:
    """Why the documented limits refuse a request that the checks of shape and type let through
    ("" where they do not)."""
    temperature = case["inputs"].get("temperature", {}).get("value", [1.0])
    if case["model"] == "charlm" and not all(0 < t < math.inf for t in temperature):
        return f"temperature {temperature} is not finite and > 0"
    return ""


def judge_host(reply: dict) -> tuple[str, str]:
    """(outcome, why) of a host command line."""
    if "exit" not in reply:  # the worker died or hung (Worker.ask)
        return "other", reply["message"]
    bound = over_bounds(reply)
    if bound:
        return "other", bound
    if reply["tensorflow"]:
        return "other", "the host imported TensorFlow"
    if any(line.rsplit("\t", 1)[-1] in ("nan", "inf", "-inf") for line in reply["stdout"].splitlines()):
        return "other", f"a non-finite answer: {reply['stdout'][-300:]}"
    lines = reply["stderr"].strip().splitlines()
    if reply["exit"] == 0 and "Traceback" not in reply["stderr"]:
        return "answer", ""
    # exit 2 with one `error:` line (argparse puts its usage line before it)
    if reply["exit"] == 2 and lines and "error:" in lines[-1] and "Traceback" not in reply["stderr"]:
        return "error", ""
    return "other", f"exit {reply['exit']}: {reply['stderr'][-300:]}"


def over_bounds(reply: dict) -> str:
    if reply["seconds"] > TIME_LIMIT:
        return f"took {reply['seconds']:.1f} s"
    if reply["memory_mb"] > MEMORY_LIMIT_MB:
        return f"grew by {reply['memory_mb']:.0f} MB"
    return ""


# ---------------------------------------------------------------- hostile values
def png(width: int, height: int, pixels: bytes | None = None, channels: int = 3) -> bytes:
    """A PNG file; with no pixels, a header that declares the size and a tiny IDAT (a bomb's shape)."""
    color = {1: 0, 3: 2, 4: 6}[channels]

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    if pixels is None:
        raw = zlib.compress(b"\0" * 1024)
    else:
        row = width * channels
        raw = zlib.compress(b"".join(b"\0" + pixels[i * row : (i + 1) * row] for i in range(height)))
    header = struct.pack(">IIBBBBB", width, height, 8, color, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def animation(frames: int, size: int) -> bytes:
    """A GIF of `frames` frames of size x size, red and blue in turn: two frames encoded by Pillow
    (a few KB each), repeated (Pillow itself takes 20 s for 300 such frames)."""
    from PIL import Image

    encoded = []
    for colour in (0, 1):
        image, out = Image.new("P", (size, size), colour), io.BytesIO()
        image.putpalette([255, 0, 0, 0, 0, 255])
        image.save(out, "GIF", optimize=False)
        encoded.append(out.getvalue())
    start = 13 + 3 * 2 ** ((encoded[0][10] & 7) + 1)  # after the header and the global colour table
    assert encoded[0][:start] == encoded[1][:start]
    return encoded[0][:start] + b"".join(encoded[i % 2][start:-1] for i in range(frames)) + b";"


def image_files() -> dict[str, bytes]:
    """Files a captioning user might send, broken ones among them (the names say how)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    good = png(20, 12, rng.integers(0, 256, 20 * 12 * 3, dtype=np.uint8).tobytes())
    jpeg = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (9, 30, 3), dtype=np.uint8)).save(jpeg, "JPEG")
    gif = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (5, 5), dtype=np.uint8)).save(gif, "GIF")
    return {
        "good.png": good,
        "gray.png": png(7, 7, bytes(range(49)), channels=1),
        "rgba.png": png(3, 2, bytes(24), channels=4),
        "one_pixel.png": png(1, 1, b"\xff\0\0"),
        "photo.jpg": jpeg.getvalue(),
        "anim.gif": gif.getvalue(),
        "frames.gif": animation(30, 2000),  # 120 M pixels in all: answered from the first frame
        "bomb.png": png(20000, 20000),
        "wide.png": png(2**31 - 1, 1),
        "zero.png": png(0, 0),
        "truncated.png": good[: len(good) // 2],
        "bad_crc.png": good[:30] + bytes([good[30] ^ 0xFF]) + good[31:],
        "header_only.png": good[:33],
        "truncated.jpg": jpeg.getvalue()[:40],
        "empty.png": b"",
        "noise.png": rng.integers(0, 256, 500, dtype=np.uint8).tobytes(),
        "text.png": b"not an image at all\n",
        "bmp_bomb.bmp": b"BM" + struct.pack("<IHHIIiiHH", 54, 0, 0, 54, 40, 60000, 60000, 1, 24) + bytes(24),
    }


IMAGES = image_files()
GOOD_IMAGES = ("good.png", "gray.png", "rgba.png", "one_pixel.png", "photo.jpg", "anim.gif", "frames.gif")
IMAGE_NAMES = st.one_of(st.sampled_from(GOOD_IMAGES), st.sampled_from(sorted(IMAGES)))  # half good ones


def ts_text(series: list, labels: list[str], features: int) -> str:
    """A .ts file (UEA format) of `series` ([steps, features] each; values written so that they
    read back as the same float32) with `labels`."""
    rows = [
        ":".join(",".join(repr(float(v)) for v in column) for column in np.asarray(s, np.float32).T) + f":{y}"
        for s, y in zip(series, labels)
    ]
    declared = " ".join(dict.fromkeys(labels))
    return f"@dimensions {features}\n@classLabel true {declared}\n@data\n" + "\n".join(rows) + "\n"


def series_files(features: int, length: int) -> dict[str, bytes]:
    """Series files a user of a classifier of `features` features and fixed LiteRT `length` might
    send, broken ones among them (the names say how)."""
    rng = np.random.default_rng(0)

    def ts(steps: list[int], width: int = features, value=None) -> bytes:
        series = [
            rng.standard_normal((n, width)) if value is None else np.full((n, width), value) for n in steps
        ]
        return ts_text(series, ["a"] * len(steps), width).encode()

    good = ts([1, 7, length])
    csv = "id," + ",".join(f"f{i}" for i in range(features)) + ",label\n"
    csv += "".join(f"s{i // 3},{','.join(['0.5'] * features)},b\n" for i in range(6))
    return {
        "good.ts": good,
        "good.csv": csv.encode(),
        "huge_values.ts": ts([3], value=3.4e38),
        "tiny_values.ts": ts([3], value=1e-30),
        "too_long.ts": ts([2, length + 1]),
        "wide.ts": ts([4], features + 1),
        "overflow.ts": f"@classLabel true a\n@data\n{':'.join(['1,1e39'] * features)}:a\n".encode(),
        "nan.ts": ts([2], value=float("nan")),
        "missing.ts": f"@classLabel true a\n@data\n{':'.join(['1,?'] * features)}:a\n".encode(),
        "ragged.ts": b"@classLabel true a\n@data\n1,2,3:1,2:a\n",
        "no_data.ts": b"@classLabel true a\n@data\n",
        "no_header.ts": b"1,2,3:a\n",
        "empty.ts": b"",
        "binary.ts": b"\x00\x01\x02",
        "latin1.ts": "@classLabel true é\n@data\n1:é\n".encode("latin-1"),
        "header_only.csv": b"id,f,label\n",
        "series.txt": good,
    }


GOOD_SERIES = ("good.ts", "good.csv", "tiny_values.ts")


@st.composite
def series_file(draw, directory: Path, features: int, length: int) -> str:
    """A drawn .ts file in `directory`, its path: 1-3 series, half the time as a careful user
    writes them (1 to `length` steps of `features` values in [-5, 5]), else of 0 to length + 2
    steps, sometimes of another width, with values from the whole float range."""
    careful = draw(st.booleans())
    width = (
        features if careful else draw(st.sampled_from([features] * 4 + [max(1, features - 1), features + 1]))
    )
    values = st.floats(-5, 5, width=32) if careful else FLOATS
    lines = []
    for _ in range(draw(st.integers(1, 3))):
        steps = draw(st.integers(1, min(length, 40)) if careful else st.integers(0, length + 2))
        columns = [draw(st.lists(values, min_size=steps, max_size=steps)) for _ in range(width)]
        lines.append(":".join(",".join(map(repr, column)) for column in columns) + ":a")
    text = "@classLabel true a\n@data\n" + "\n".join(lines) + "\n"
    path = directory / f"drawn_{zlib.crc32(text.encode()):08x}.ts"
    path.write_text(text, encoding="utf-8")
    return str(path)


def broken_metadata(meta: dict) -> dict[str, str]:
    """classify.json edited by hand, in ways a host must refuse (the names say how)."""
    edits = {
        "no_labels.json": {"labels": []},
        "more_labels.json": {"labels": [*meta["labels"], "extra"]},
        "longer.json": {"length": meta["length"] + 1},
        "zero_length.json": {"length": 0},
        "more_features.json": {"features": meta.get("features", 0) + 1},
        "text_kind.json": {"kind": "text", "tokens": ["", "[UNK]", "a"], "level": "char"},
        "other_task.json": {"task": "translate"},
        "string_length.json": {"length": str(meta["length"])},
    }
    out = {name: json.dumps({**meta, **edit}) for name, edit in edits.items()}
    return {**out, "not_json.json": "{", "list.json": "[]"}


def broken_tag_metadata(meta: dict) -> dict[str, str]:
    """tag.json edited by hand, in ways the tag host must refuse (the names say how)."""
    edits = {
        "tag_no_tags.json": {"tags": []},
        "tag_more_tags.json": {"tags": [*meta["tags"], "extra/lower"]},
        "tag_more_words.json": {"words": [*meta["words"], "extra"]},
        "tag_longer.json": {"length": meta["length"] + 1},
        "tag_zero_length.json": {"length": 0},
        "tag_numbers.json": {"words": [1, 2, 3]},
        "tag_other_task.json": {"task": "classify"},
        "tag_string_length.json": {"length": str(meta["length"])},
    }
    out = {name: json.dumps({**meta, **edit}) for name, edit in edits.items()}
    return {**out, "tag_not_json.json": "{", "tag_list.json": "[]"}


def broken_sidecars(commands: dict, directory: Path) -> dict[str, dict]:
    """Host command lines whose NAME.json was edited by hand, or whose models were mixed up, in
    ways the host must refuse (the names say how): {name: case}, for the hosts in `commands`
    (HOSTS' values by name)."""
    cases = {}
    if "charlm" in commands:
        module, (tflite, sidecar) = commands["charlm"]
        meta = json.loads(Path(sidecar).read_text(encoding="utf-8"))
        for name, text in {
            "integer_chars": json.dumps({**meta, "chars": list(range(len(meta["chars"])))}),
            "ten_chars": json.dumps({**meta, "chars": meta["chars"][:10]}),
            "unknown_id": json.dumps({**meta, "unknown_id": 1_000_000}),
            "deep": "[" * 100_000 + "]" * 100_000,
        }.items():
            (directory / f"charlm_{name}.json").write_text(text, encoding="utf-8")
            cases[f"charlm_{name}"] = {
                "module": module,
                "argv": [tflite, str(directory / f"charlm_{name}.json")],
            }
    edits = {  # "longer": the vocabulary with a few more tokens than the model has
        "translate": {
            "max_source_len": 10**7,
            "source_length": 10**7,
            "source_vocab": "longer",
            "target_end_id": -1,
        },
        "caption": {"vocab": "longer", "end_id": 10**6, "image_size": 10**4},
    }
    item = {"translate": "hello", "caption": str(directory / "good.png")}
    for host in sorted(set(edits) & set(commands)):
        module, (litert,) = commands[host]
        meta = json.loads((Path(litert) / f"{host}.json").read_text(encoding="utf-8"))
        for key, value in edits[host].items():
            value = [*meta[key], "extra", "tokens"] if value == "longer" else value
            edited = linked_copy(litert, directory / f"{host}_{key}", {**meta, key: value})
            cases[f"{host}_{key}"] = {"module": module, "argv": [edited, item[host]]}
    if {"caption", "translate"} <= set(commands):  # the translation encoder as caption_encoder.tflite
        module, (litert,) = commands["caption"]
        encoder = Path(commands["translate"][1][0]) / "translate_encoder.tflite"
        edited = linked_copy(litert, directory / "caption_encoder", None, {"caption_encoder.tflite": encoder})
        cases["caption_translation_encoder"] = {"module": module, "argv": [edited, item["caption"]]}
    return cases


def linked_copy(litert, directory: Path, meta: dict | None, replaced: dict | None = None) -> str:
    """`directory` made a LiteRT version like `litert` (its files linked, `replaced` ones by others),
    with NAME.json holding `meta` where given."""
    directory.mkdir(exist_ok=True)
    for file in Path(litert).iterdir():
        link = directory / file.name
        link.unlink(missing_ok=True)
        link.symlink_to((replaced or {}).get(file.name, file))
    if meta is not None:
        (directory / f"{meta['task']}.json").unlink()
        (directory / f"{meta['task']}.json").write_text(json.dumps(meta), encoding="utf-8")
    return str(directory)


def summary(case: dict) -> dict:
    """A case, short enough for an assertion message."""
    return {
        "signature": f"{case['model']}/{case['signature']}",
        **{
            k: (v["dtype"], v["shape"], str(v.get("value", v.get("b64s")))[:80])
            for k, v in case["inputs"].items()
        },
    }


SCALAR_INTS = st.one_of(
    st.integers(-3, 40), st.sampled_from([0, -1, 2**31 - 1, -(2**31), 10**6, 100_001, 513, 65, 17, 16])
)
FLOATS = st.one_of(
    st.floats(-5, 5, width=32),
    st.sampled_from([0.0, -0.0, math.nan, math.inf, -math.inf, 1e-30, 1e30, 3.4e38]),
)
TEXT = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",)), max_size=40),
    st.sampled_from(["", " ", "\t\n", "¿Qué?", "l'homme est-ce", "a" * (limits.MAX_PROMPT_CHARS + 1)]),
    st.binary(max_size=40),  # not UTF-8, most of the time
)


def encoded(dtype: str, array, batched: bool) -> dict:
    """A request input as the worker reads it."""
    array = np.asarray(array, dtype=object if dtype == "string" else dtype)
    entry = {"dtype": dtype, "shape": list(array.shape), "batched": batched}
    if dtype == "string":
        raw = [x if isinstance(x, bytes) else str(x).encode("utf-8") for x in array.reshape(-1)]
        entry["b64s"] = [base64.b64encode(x).decode() for x in raw]
    else:
        entry["value"] = array.reshape(-1).tolist()
    return entry


@st.composite
def tensor(draw, name: str, spec: dict):
    """A hostile value for one signature input: mostly the declared rank, sometimes not; any
    batch size; contents from the whole range of the type (NaN, inf, not UTF-8, broken images)."""
    shape = [draw(st.integers(0, 3)) if d is None else d for d in spec["shape"]]
    if spec["shape"] and draw(st.integers(0, 9)) == 0:  # a wrong width or a wrong rank
        shape = draw(st.sampled_from([[], [*shape, 1], shape[:-1] + [shape[-1] + 1]]))
    elif not spec["shape"] and draw(st.integers(0, 14)) == 0:
        shape = [draw(st.integers(0, 2))]
    if spec["shape"] and spec["shape"][-1] is None and len(shape) >= 2 and draw(st.booleans()):
        shape[-1] = draw(st.integers(0, 60))  # a longer series
    dtype = spec["dtype"]
    if dtype == "string":
        values = IMAGE_NAMES.map(IMAGES.get) if name == "images" else TEXT
    else:
        values = small_ints(name) if dtype.startswith("int") else FLOATS
    return array_of(draw, values, dtype, shape, spec)


@st.composite
def valid_tensor(draw, name: str, spec: dict, batch: int):
    """A value a careful client would send: the declared shape, `batch` rows, sensible contents."""
    shape = [
        batch if i == 0 else (draw(st.integers(1, 40)) if d is None else d)
        for i, d in enumerate(spec["shape"])
    ]
    values = {
        "prompt": st.text(max_size=30),
        "source": st.text(max_size=30),
        "text": st.text(max_size=60),
        "images": st.sampled_from(GOOD_IMAGES).map(IMAGES.get),
        "num_chars": st.integers(1, 40),
        "num_steps": st.integers(1, 40),
        "beam_width": st.integers(1, 4),
        "max_length": st.integers(1, 30),
        "top_k": st.integers(0, 10),
        "token": st.integers(0, 3),
        "temperature": st.floats(0.1, 2.0),
        "length_penalty": st.floats(0.0, 2.0),
        "lengths": st.integers(1, 40),  # at most the series' steps (savedmodel_case)
    }.get(name, st.integers(-(2**31), 2**31 - 1) if spec["dtype"].startswith("int") else st.floats(-1, 1))
    return array_of(draw, values, spec["dtype"], shape, spec)


def array_of(draw, values, dtype: str, shape: list, spec: dict) -> dict:
    size = int(np.prod(shape)) if shape else 1
    array = np.empty(size, dtype=object)
    array[:] = draw(st.lists(values, min_size=size, max_size=size))
    return encoded(dtype, array.reshape(shape), bool(spec["shape"]) and spec["shape"][0] is None)


def small_ints(name: str):
    """Integers for an input, valid ones kept small enough to answer fast (the limits
    themselves are tested by name in each task's tests)."""
    if name in ("num_chars", "num_steps"):
        return st.one_of(st.integers(-2, 60), st.sampled_from([2**31 - 1, -(2**31), 100_001, 10**7]))
    if name == "beam_width":
        return st.one_of(st.integers(-1, 4), st.sampled_from([16, 17, 2**31 - 1]))
    if name == "max_length":
        return st.one_of(st.integers(-1, 30), st.sampled_from([64, 65, 512, 513, 2**31 - 1]))
    return SCALAR_INTS


@st.composite
def savedmodel_case(draw, specs: dict, model: str | None = None):
    """A request: a third all valid, a third with one hostile input, a third hostile throughout."""
    model = model or draw(st.sampled_from(sorted(specs)))
    signature = draw(st.sampled_from(sorted(specs[model])))
    names = sorted(specs[model][signature])
    hostile = {0: set(), 1: {draw(st.sampled_from(names))}, 2: set(names)}[draw(st.integers(0, 2))]
    batch = draw(st.integers(1, 3))
    inputs = {
        name: draw(tensor(name, spec) if name in hostile else valid_tensor(name, spec, batch))
        for name, spec in ((name, specs[model][signature][name]) for name in names)
    }
    if {"series", "lengths"} <= set(inputs) and not hostile:  # a careful client's lengths fit its series
        steps = inputs["series"]["shape"][1]
        inputs["lengths"]["value"] = [min(n, steps) for n in inputs["lengths"]["value"]]
    return {"model": model, "signature": signature, "inputs": inputs}


# Command-line text: bytes that are not UTF-8 arrive as lone surrogates (os.fsdecode)
ARGV_TEXT = st.one_of(
    TEXT.filter(lambda t: isinstance(t, str) and "\0" not in t), st.just(os.fsdecode(b"\xff\xfe"))
)
OPTION_TEXT = st.one_of(
    st.sampled_from(["", "abc", "1e5", "nan", "-inf", "0x10", " 3"]), SCALAR_INTS.map(str)
)


@st.composite
def host_case(draw, hosts: dict, image_dir: Path):
    """A command line for one host: its model, hostile items and options."""
    host = draw(st.sampled_from(sorted(hosts)))
    module, model_args = hosts[host]
    if host == "charlm":
        argv = list(model_args)
        for option, values in [
            ("--prompt", ARGV_TEXT),
            ("--num-chars", st.one_of(st.integers(-2, 80).map(str), OPTION_TEXT)),
            ("--temperature", st.one_of(FLOATS.map(repr), OPTION_TEXT)),
            ("--top-k", st.one_of(st.integers(-2, 50).map(str), OPTION_TEXT)),
            ("--seed", st.one_of(SCALAR_INTS.map(str), st.sampled_from([str(2**70), str(-(2**70))]))),
        ]:
            if draw(st.booleans()):
                argv += [option, draw(values)]
    elif host == "classify":  # series files, hand-broken metadata now and then
        meta = json.loads(Path(model_args[1]).read_text(encoding="utf-8"))
        drawn = series_file(image_dir, meta["features"], meta["length"])
        names = st.sampled_from(sorted(series_files(meta["features"], meta["length"])))
        items = st.one_of(
            drawn,
            st.one_of(st.sampled_from(GOOD_SERIES), names).map(lambda n: str(image_dir / n)),  # half good
            st.sampled_from([str(image_dir), str(image_dir / "missing.ts")]),
        )
        argv = [*model_args, *draw(st.lists(items, min_size=1, max_size=2))]
        if draw(st.integers(0, 7)) == 0:
            argv[1] = str(image_dir / draw(st.sampled_from(sorted(broken_metadata(meta)))))
    elif host == "tag":  # texts, now and then a hand-broken tag.json
        items = TEXT.filter(lambda t: isinstance(t, str) and "\0" not in t)
        argv = [*model_args, *draw(st.lists(items, min_size=1, max_size=3))]
        if draw(st.integers(0, 7)) == 0:
            meta = json.loads(Path(model_args[1]).read_text(encoding="utf-8"))
            argv[1] = str(image_dir / draw(st.sampled_from(sorted(broken_tag_metadata(meta)))))
    else:
        if host == "caption":
            items = st.one_of(
                IMAGE_NAMES.map(lambda n: str(image_dir / n)),
                st.sampled_from([str(image_dir), str(image_dir / "missing.png")]),
            )
        else:
            items = ARGV_TEXT
        argv = [*model_args, *draw(st.lists(items, min_size=1, max_size=3))]
        if draw(st.booleans()):
            argv += ["--max-length", draw(st.one_of(small_ints("max_length").map(str), OPTION_TEXT))]
        if draw(st.integers(0, 4)) == 0:
            argv.append("--quantized")
    return {"module": module, "argv": argv}
