"""One set of checks every task's exports go through.

- `serve(savedmodel, body)`: answer a TF Serving REST body in a fresh process where
  `keras` and `keras_rnn` are unimportable (the SavedModel must answer on TensorFlow
  alone, as in TF Serving);
- `assert_builtin_ops_only(tflite)`: a .tflite runs without the Flex delegate or custom ops;
- `run_without_tensorflow(code)`: run a LiteRT host snippet in a process that must not
  import TensorFlow or Keras; returns what it printed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ai_edge_litert.interpreter import Interpreter

ROOT = Path(__file__).resolve().parent.parent

# Stand-in for TF Serving's REST API: {"signature_name", "inputs" (columnar) | "instances" (rows)};
# binary values travel as {"b64": "..."}, as in TF Serving.
# keras and keras_rnn are made unimportable first (TensorFlow imports keras when it can).
SERVE = r"""
import base64, json, sys
sys.modules["keras"] = sys.modules["keras_rnn"] = None
import tensorflow as tf
path, body = sys.argv[1], json.loads(sys.argv[2])
def unwrap(v):
    if isinstance(v, dict) and set(v) == {"b64"}:
        return base64.b64decode(v["b64"])
    return [unwrap(x) for x in v] if isinstance(v, list) else v
signature = tf.saved_model.load(path).signatures[body["signature_name"]]
specs = signature.structured_input_signature[1]
if "instances" in body:
    columns = {k: [row[k] for row in body["instances"]] for k in body["instances"][0]}
else:
    columns = body["inputs"]
outputs = signature(**{k: tf.constant(unwrap(v), dtype=specs[k].dtype) for k, v in columns.items()})
def decode(v):
    if isinstance(v, list):
        return [decode(x) for x in v]
    return v.decode("utf-8") if isinstance(v, bytes) else v
result = {k: decode(v.numpy().tolist()) for k, v in outputs.items()}
leaked = sorted(m for m, v in sys.modules.items() if v is not None and m.split(".")[0] in ("keras", "keras_rnn"))
print(json.dumps({"outputs": result, "imported": leaked}))
"""

NO_TENSORFLOW = "\nassert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF was imported'"


def serve(savedmodel, body: dict) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", SERVE, str(savedmodel), json.dumps(body)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    answer = json.loads(proc.stdout.strip().splitlines()[-1])
    assert answer["imported"] == [], f"the serving process imported {answer['imported']}"
    return answer["outputs"]


def litert_ops(tflite) -> set[str]:
    interpreter = Interpreter(model_path=str(tflite))
    interpreter.allocate_tensors()
    return {op["op_name"] for op in interpreter._get_ops_details()}


def assert_builtin_ops_only(tflite) -> None:
    ops = litert_ops(tflite)
    assert ops and not any("Flex" in op or op == "CUSTOM" for op in ops), (Path(tflite).name, ops)


def run_without_tensorflow(code: str) -> str:
    """Run `code` (it may print) in a fresh process; fails if TensorFlow or Keras got imported."""
    proc = subprocess.run(
        [sys.executable, "-c", "import sys\n" + code + NO_TENSORFLOW],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip()


# ---------------------------------------------------------------- exports made where Keras sees a GPU
def export_as_on_a_gpu(task, run_dir, out) -> dict:
    """`writer.export` of a finished run while Keras believes a GPU is present, as it does on a GPU
    machine: its LSTM/GRU then pick cuDNN kernels when a function is traced. The module object is
    taken from sys.modules (`keras.src.backend.tensorflow.rnn` the name resolves to a function)."""
    from keras_rnn.export import writer

    rnn = sys.modules["keras.src.backend.tensorflow.rnn"]
    real = rnn._is_gpu_available
    rnn._is_gpu_available = lambda: True
    try:
        return writer.export(task.serving(task.load(run_dir)), out)
    finally:
        rnn._is_gpu_available = real


def savedmodel_ops(savedmodel) -> set[str]:
    """Every op of every function of a SavedModel (library functions included)."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel.FromString((Path(savedmodel) / "saved_model.pb").read_bytes())
    graph = saved.meta_graphs[0].graph_def
    return {n.op for n in graph.node} | {n.op for f in graph.library.function for n in f.node_def}


def assert_portable(written: dict) -> None:
    """A CPU TF Serving and LiteRT's builtins run the export, in float32: no cuDNN op anywhere, no
    half-precision signature input or output, builtin ops only in every .tflite (every subgraph)."""
    from tensorflow.core.framework import types_pb2
    from tensorflow.core.protobuf import saved_model_pb2
    from tensorflow.lite.python import schema_py_generated as schema

    ops = savedmodel_ops(written["savedmodel"])
    assert ops and not [op for op in ops if op.startswith("Cudnn")], sorted(ops)
    saved = saved_model_pb2.SavedModel.FromString((written["savedmodel"] / "saved_model.pb").read_bytes())
    for signature in saved.meta_graphs[0].signature_def.values():
        for tensor in [*signature.inputs.values(), *signature.outputs.values()]:
            assert tensor.dtype not in (types_pb2.DT_HALF, types_pb2.DT_BFLOAT16), tensor
    assert written["litert"]
    for tflite in written["litert"]:
        model = schema.Model.GetRootAsModel(Path(tflite).read_bytes(), 0)
        codes = [model.OperatorCodes(i) for i in range(model.OperatorCodesLength())]
        assert all(
            schema.BuiltinOperator.CUSTOM not in (c.BuiltinCode(), c.DeprecatedBuiltinCode()) for c in codes
        )
        runner = Interpreter(model_path=str(tflite)).get_signature_runner()
        dtypes = [
            d["dtype"] for d in [*runner.get_input_details().values(), *runner.get_output_details().values()]
        ]
        assert all(d.__name__ not in ("float16", "bfloat16") for d in dtypes), (tflite, dtypes)


def export_answers(savedmodel, litert_dir) -> dict:
    """What an export answers: warmup requests to the SavedModel, seeded inputs to every .tflite."""
    from keras_rnn.export import answers

    return {**answers.savedmodel_answers(savedmodel), **answers.litert_answers(litert_dir)}


def assert_exported_on_a_gpu_answers_alike(task, run_dir, savedmodel, litert_dir, tmp_path) -> None:
    """The device test every family goes through: the run exported where Keras sees a GPU is
    portable and answers as its export made on this CPU machine (`savedmodel`, `litert_dir`) does."""
    from keras_rnn.export import answers

    on_gpu = export_as_on_a_gpu(task, run_dir, tmp_path / "exported_on_gpu")
    assert_portable(on_gpu)
    on_gpu_answers = export_answers(on_gpu["savedmodel"], on_gpu["litert"][0].parent)
    assert answers.differences(on_gpu_answers, export_answers(savedmodel, litert_dir), tolerance=1e-5) == []


def keras_inputs(model, seed: int = 0) -> list:
    """Inputs for a functional model: token ids 1-3 for integer inputs (free lengths: 5), random
    pixels for images."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out = []
    for spec in model.inputs:
        shape = [2 if i == 0 else (5 if d is None else d) for i, d in enumerate(spec.shape)]
        if "int" in str(spec.dtype):
            out.append(rng.integers(1, 4, shape).astype(str(spec.dtype)))
        else:
            out.append(rng.integers(0, 256, shape).astype(str(spec.dtype)))
    return out


def assert_mixed_precision_run_exports(task, run_dir, tmp_path, tolerance: float) -> None:
    """The precision test every family with mixed precision goes through: a run trained in
    mixed precision, exported where Keras sees a GPU, is portable; its SavedModel and float32
    .tflite answer as the same weights in a float32 Keras model do (to 1e-4), and that model's
    outputs are the mixed model's to `tolerance` (bfloat16 keeps 8 bits of mantissa)."""
    import keras
    import numpy as np

    from keras_rnn import config, runs
    from keras_rnn.export import answers

    written = export_as_on_a_gpu(task, run_dir, tmp_path / "exported")
    assert_portable(written)
    in_keras = answers.keras_answers(task.serving(task.load(run_dir)))  # float32 Keras, on this CPU
    exported = export_answers(written["savedmodel"], written["litert"][0].parent)
    assert sorted(exported) == sorted(in_keras)
    assert answers.differences(exported, in_keras, tolerance=1e-4) == []

    precision = config.load(task.Config, Path(run_dir) / runs.CONFIG_FILE).precision
    assert precision.startswith("mixed_")
    float32_model = task.load(run_dir).model
    keras.mixed_precision.set_global_policy(precision)  # the model as it trained
    try:
        mixed_model = keras.saving.load_model(Path(run_dir) / runs.MODEL_FILE, compile=False)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    inputs = keras_inputs(float32_model)
    mixed = np.asarray(mixed_model(inputs), dtype=np.float32)
    exact = np.asarray(float32_model(inputs))
    assert exact.dtype == np.float32 and np.abs(mixed - exact).max() <= tolerance * max(
        1.0, np.abs(exact).max()
    )
