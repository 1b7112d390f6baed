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
decode = lambda v: v.decode("utf-8") if isinstance(v, bytes) else v
result = {k: [decode(x) for x in v.numpy().tolist()] for k, v in outputs.items()}
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
