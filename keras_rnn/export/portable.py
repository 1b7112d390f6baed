"""Served graphs that do not depend on where or how the model was trained.

Two things a trained `.keras` model carries into every function traced from it:

- its **precision**: a run trained with `--precision mixed_float16 / mixed_bfloat16` stores each
  layer's mixed dtype policy, so a traced function computes (and LiteRT would have to convert)
  in half precision;
- **cuDNN kernels**: Keras 3's LSTM/GRU choose the cuDNN implementation *when a function is
  traced* on a machine where a GPU is visible (`keras.src.backend.tensorflow.rnn.cudnn_ok`), so a
  SavedModel exported there holds `CudnnRNNV3` ops that CPU TF Serving cannot load and LiteRT
  cannot convert (keras-team/keras#18504, tensorflow/tensorflow#77442).

`portable_copy` rebuilds the model from its config with float32 policies and the recurrent
layers held off cuDNN (`use_cudnn=False`: Keras' own TF-ops implementation, the same
equations), then copies the weights (mixed-precision variables are float32 already). Export,
prediction and evaluation of a finished run use that copy; training keeps the fast path.
`forbidden_ops` is the export's last check that no such op reached a written file.
"""

from __future__ import annotations

import keras

HALF_PRECISION = ("float16", "bfloat16")
GPU_ONLY_OP_PREFIXES = ("Cudnn",)  # CudnnRNN, CudnnRNNV2/V3, CudnnRNNBackprop*, CudnnRNNParams*


def _float32_config(config):
    """A serialized Keras object with every mixed or half-precision dtype policy made float32."""
    if isinstance(config, list):
        return [_float32_config(c) for c in config]
    if not isinstance(config, dict):
        return config
    if config.get("class_name") in ("DTypePolicy", "FloatDTypePolicy"):
        name = config.get("config", {}).get("name", "")
        if name.startswith("mixed_") or name in HALF_PRECISION:
            return "float32"
    rewritten = {k: _float32_config(v) for k, v in config.items()}
    if config.get("class_name") == "__keras_tensor__" and rewritten["config"].get("dtype") in HALF_PRECISION:
        rewritten["config"] = {**rewritten["config"], "dtype": "float32"}
    return rewritten


def without_cudnn(model):
    """Hold every LSTM/GRU layer of `model` (nested models and wrappers included) off cuDNN,
    whatever devices the machine has; returns `model`."""
    for layer in model._flatten_layers(include_self=True, recursive=True):
        if isinstance(layer, (keras.layers.LSTM, keras.layers.GRU)):
            layer.use_cudnn = False
    return model


def portable_copy(model: keras.Model) -> keras.Model:
    """`model` with the same weights, computing in float32 and without cuDNN kernels."""
    config = _float32_config(keras.saving.serialize_keras_object(model))
    return rebuilt(lambda: keras.saving.deserialize_keras_object(config), model)


def rebuilt(build, model: keras.Model) -> keras.Model:
    """`build()`, a model with `model`'s layers (e.g. at the fixed length a LiteRT model needs),
    given `model`'s weights, computing in float32 and without cuDNN kernels."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")  # sub-layers made in __init__ follow it
    try:
        copy = build()
    finally:
        keras.mixed_precision.set_global_policy(previous)
    copy.set_weights(model.get_weights())
    return without_cudnn(copy)


def forbidden_ops(op_names) -> list[str]:
    """The op names (sorted, once each) that only run on a GPU."""
    return sorted({op for op in op_names if op.startswith(GPU_ONLY_OP_PREFIXES)})
