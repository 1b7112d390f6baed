"""TF Serving warmup: `assets.extra/tf_serving_warmup_requests` in every SavedModel version.

TF Serving replays these requests when it loads a version, before it serves it, so the
first real request does not pay for tracing and graph optimisation. The file is a TFRecord
of `PredictionLog` protos (tensorflow-serving-api), one request per signature: the task's
example request for its main signature (and its `_xla` twin), and for the others the
smallest valid input (zeros; a batch of one, one step).
"""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import tensorflow as tf

WARMUP_FILE = "tf_serving_warmup_requests"


def example_inputs(spec, signature: str, specs) -> dict[str, np.ndarray]:
    """{input name: value} for one signature: the spec's example, else zeros of the smallest shape."""
    example = spec.example or {}
    if example.get("signature_name") in (signature, signature.removesuffix("_xla")):
        inputs = {}
        for tensor_spec in specs:
            value = example["inputs"][tensor_spec.name]
            if tensor_spec.dtype == tf.string:  # REST bodies carry bytes as {"b64": ...}
                value = [base64.b64decode(v["b64"]) if isinstance(v, dict) else v.encode() for v in value]
            inputs[tensor_spec.name] = np.asarray(
                value, dtype=object if tensor_spec.dtype == tf.string else None
            )
        return inputs

    def smallest(s):
        shape = [1 if d is None else d for d in s.shape]
        if s.dtype == tf.string:
            return np.full(shape, b"", dtype=object)
        if not shape and s.dtype.is_integer:  # a count (steps, characters): one
            return np.asarray(1, s.dtype.as_numpy_dtype)
        return np.zeros(shape, s.dtype.as_numpy_dtype)

    return {s.name: smallest(s) for s in specs}


def requests(spec) -> list[tuple[str, dict]]:
    return [(name, example_inputs(spec, name, specs)) for name, (_, specs) in spec.endpoints.items()]


def write(spec, savedmodel_dir: Path) -> Path:
    """Write the warmup records of `spec` into the SavedModel directory's assets.extra/."""
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

    path = Path(savedmodel_dir) / "assets.extra" / WARMUP_FILE
    path.parent.mkdir(exist_ok=True)
    dtypes = {name: {s.name: s.dtype for s in specs} for name, (_, specs) in spec.endpoints.items()}
    with tf.io.TFRecordWriter(str(path)) as writer:
        for signature, inputs in requests(spec):
            request = predict_pb2.PredictRequest()
            request.model_spec.name = spec.name
            request.model_spec.signature_name = signature
            for key, value in inputs.items():
                request.inputs[key].CopyFrom(tf.make_tensor_proto(value, dtype=dtypes[signature][key]))
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())
    return path


def read(path) -> list[tuple[str, dict]]:
    """The (signature, {input: array}) pairs of a warmup file, as TF Serving would replay them."""
    from tensorflow_serving.apis import prediction_log_pb2

    out = []
    for record in tf.data.TFRecordDataset(str(path)):
        log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
        request = log.predict_log.request
        out.append(
            (request.model_spec.signature_name, {k: tf.make_ndarray(v) for k, v in request.inputs.items()})
        )
    return out
