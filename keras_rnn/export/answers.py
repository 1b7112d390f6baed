"""What an exported version answers, to compare two exports of one run (or an export with the
Keras model it came from): made on a GPU machine or a CPU one, from a float32 or a
mixed-precision run, they must answer alike.

- `savedmodel_answers`: every signature's TF Serving warmup request (`export.warmup`: the
  task's example request, or the smallest valid input), run as TF Serving would;
- `litert_answers`: every float32 `.tflite` on seeded inputs of its signature (token ids 1,
  masks 1, other floats small random numbers, images random pixels), run with `ai_edge_litert`;
- `keras_answers`: the same requests and inputs answered by the task's serving functions in
  Keras, in this process (on a GPU machine: on the GPU), before anything is exported;
- `differences`: what differs between two such answer sets, beyond a tolerance.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def savedmodel_answers(savedmodel_dir) -> dict[str, np.ndarray]:
    """{"signature/output": answer} for the warmup request of every signature."""
    import tensorflow as tf

    from keras_rnn.export import warmup

    loaded = tf.saved_model.load(str(savedmodel_dir))
    out = {}
    for signature, inputs in warmup.read(Path(savedmodel_dir) / "assets.extra" / warmup.WARMUP_FILE):
        answer = loaded.signatures[signature](**{k: tf.constant(v) for k, v in inputs.items()})
        out.update({f"{signature}/{k}": v.numpy() for k, v in answer.items()})
    return out


def litert_input(name: str, shape, dtype, rng: np.random.Generator) -> np.ndarray:
    """A valid input for one fixed-shape input of a LiteRT function."""
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.integer) and dtype != np.uint8:
        return np.ones(shape, dtype)  # a token id every vocabulary has (1: <unk> or the first token)
    if dtype == np.uint8:
        return rng.integers(0, 256, shape).astype(dtype)
    if "mask" in name:
        return np.ones(shape, dtype)
    return (0.5 * rng.standard_normal(shape)).astype(dtype)


def litert_inputs(shapes: dict, seed: int = 0) -> dict[str, np.ndarray]:
    """{name: value} for {name: (shape, dtype)}, the same in every process for the same seed."""
    rng = np.random.default_rng(seed)
    return {name: litert_input(name, *shapes[name], rng) for name in sorted(shapes)}


def litert_answers(litert_dir, seed: int = 0) -> dict[str, np.ndarray]:
    """{"file/output": answer} for every float32 .tflite under `litert_dir` (not the quantized
    `_drq` twins), on seeded inputs."""
    from ai_edge_litert.interpreter import Interpreter

    out = {}
    for path in sorted(Path(litert_dir).glob("*.tflite")):
        if path.stem.endswith("_drq"):
            continue
        runner = Interpreter(model_path=str(path)).get_signature_runner()
        shapes = {k: (d["shape"], d["dtype"]) for k, d in runner.get_input_details().items()}
        answer = runner(**litert_inputs(shapes, seed))
        out.update({f"{path.stem}/{k}": np.asarray(v) for k, v in answer.items()})
    return out


def keras_answers(spec, seed: int = 0) -> dict[str, np.ndarray]:
    """What `savedmodel_answers` and `litert_answers` give for `spec`'s export, computed by its
    serving functions in Keras here (traced with their signatures, as the export traces them)."""
    import tensorflow as tf

    from keras_rnn.export import warmup

    out = {}
    for signature, inputs in warmup.requests(spec):
        fn, specs = spec.endpoints[signature]
        dtypes = {s.name: s.dtype for s in specs}
        answer = tf.function(fn, input_signature=specs)(
            **{k: tf.constant(v, dtypes[k]) for k, v in inputs.items()}
        )
        out.update({f"{signature}/{k}": v.numpy() for k, v in answer.items()})
    for name, (fn, specs) in spec.litert.items():
        shapes = {s.name: (s.shape.as_list(), s.dtype.as_numpy_dtype) for s in specs}
        values = litert_inputs(shapes, seed)  # passed in the signature's order, whatever fn names them
        answer = tf.function(fn, input_signature=specs)(*(values[s.name] for s in specs))
        out.update({f"{spec.name}_{name}/{k}": v.numpy() for k, v in answer.items()})
    return out


def differences(a: dict, b: dict, tolerance: float = 1e-4) -> list[str]:
    """What differs between two answer sets: missing keys, other shapes or dtypes, text that is
    not equal, numbers further apart than `tolerance` (absolute, or relative to the larger)."""
    problems = [f"{k}: only in one" for k in sorted(set(a) ^ set(b))]
    for key in sorted(set(a) & set(b)):
        x, y = np.asarray(a[key]), np.asarray(b[key])
        if x.shape != y.shape or x.dtype != y.dtype:
            problems.append(f"{key}: {x.dtype}{list(x.shape)} vs {y.dtype}{list(y.shape)}")
        elif x.dtype == object or not np.issubdtype(x.dtype, np.number):
            if not np.array_equal(x, y):
                problems.append(f"{key}: {x.ravel()[:2]} vs {y.ravel()[:2]}")
        elif not np.allclose(x, y, rtol=tolerance, atol=tolerance, equal_nan=True):
            problems.append(f"{key}: max |difference| {np.max(np.abs(x.astype(float) - y)):.3g}")
    return problems
