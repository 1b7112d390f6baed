"""Exports never hold what a CPU server or a phone cannot run: `export.py`'s last check before it
publishes a version. (Each family's own test file exports a run as on a GPU machine and a
mixed-precision run: `tests/export_harness.py`.)"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from keras_rnn import UserError
from keras_rnn.export import ServingSpec, answers, portable, writer

SIGNATURE = [tf.TensorSpec([1, 2], tf.float32, name="x")]


def cudnn_gru(x):  # the op Keras' GRU traces to on a GPU machine
    outputs = tf.raw_ops.CudnnRNNV3(
        input=x[None],
        input_h=tf.zeros([1, 1, 2]),
        input_c=tf.zeros([1, 1, 2]),
        params=tf.zeros([36]),
        sequence_lengths=tf.ones([1], tf.int32),
        rnn_mode="gru",
    )
    return {"y": outputs[0][0]}


def in_bfloat16(x):
    return {"y": tf.cast(x, tf.bfloat16)}


def plain(x):
    return {"y": 2.0 * x}


@pytest.mark.parametrize(
    "served, on_phone, refusal",
    [
        (cudnn_gru, plain, "not publishing the SavedModel: GPU-only op CudnnRNNV3"),
        (in_bfloat16, plain, "not publishing the SavedModel: f output 'y' is bfloat16"),
        (plain, in_bfloat16, "not publishing LiteRT 'f': 'y' is bfloat16"),
    ],
)
def test_export_refuses_gpu_only_ops_and_half_precision_and_publishes_nothing(
    served, on_phone, refusal, tmp_path
):
    spec = ServingSpec(
        name="t",
        module=tf.Module(),
        endpoints={"f": (served, SIGNATURE)},
        litert={"f": (on_phone, SIGNATURE)},
        metadata={},
    )
    with pytest.raises(UserError, match=refusal):
        writer.export(spec, tmp_path)
    assert (
        [p.name for p in (tmp_path / "t").iterdir()]
        == []
        == [p.name for p in (tmp_path / "litert" / "t").iterdir()]
    )


def test_a_tflite_with_flex_ops_is_refused():
    module = tf.Module()
    module.f = tf.function(
        lambda x: {"y": tf.strings.to_number(tf.strings.as_string(x))}, input_signature=SIGNATURE
    )
    converter = tf.lite.TFLiteConverter.from_concrete_functions([module.f.get_concrete_function()], module)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
    with pytest.raises(UserError, match="custom op Flex"):
        writer.check_litert_is_portable("f", converter.convert())
    assert portable.forbidden_ops(["CudnnRNNV3", "MatMul", "CudnnRNNBackpropV3"]) == [
        "CudnnRNNBackpropV3",
        "CudnnRNNV3",
    ]


def test_answer_differences_name_what_differs():
    a = {"s/text": np.array([b"x"], object), "s/score": np.array([1.0], np.float32), "only": np.zeros(1)}
    b = {"s/text": np.array([b"y"], object), "s/score": np.array([1.001], np.float32)}
    found = answers.differences(a, b, tolerance=1e-4)
    assert found[0] == "only: only in one" and found[1].startswith("s/score: max |difference| 0.001")
    assert found[2].startswith("s/text:") and answers.differences(b, b) == []
