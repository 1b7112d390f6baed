"""Write a task's `ServingSpec` as a TF Serving model version and LiteRT models.

Layout under `--out` (default `saved_models/`):

    saved_models/
      models.config               TF Serving --model_config_file listing every model
      NAME/<version>/             SavedModel (saved_model.pb, variables/, assets.extra/metadata.json)
      litert/NAME/<version>/      NAME_<fn>.tflite (float32), NAME_<fn>_drq.tflite
                                  (dynamic-range quantized), NAME.json (vocabulary, shapes)

Versions count up (1, 2, ...). Everything is written under `.tmp-*` names and
renamed into place at the end, so TF Serving (which watches for numeric
directories) never sees a half-written version; an interrupted export leaves
only a `.tmp-*` directory, which the next export removes. Exports into one `--out` take turns
(a lock, `.lock`, held while one runs): a second waits, then writes the next version.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import shutil
from pathlib import Path

import keras
import tensorflow as tf

from keras_rnn import UserError, locks, write_atomically
from keras_rnn.export import ServingSpec, portable, warmup

LITERT_DIR = "litert"
CONFIG_FILE = "models.config"


def next_version(*dirs: Path) -> int:
    versions = [int(p.name) for d in dirs if d.exists() for p in d.iterdir() if p.name.isdigit()]
    return max(versions, default=0) + 1


def shape_checked(fn, signature: list):
    """`fn` with its inputs checked at run time: TF Serving and signature calls feed whatever
    arrives (a scalar for a `[None]` input, 2-D for 1-D), and inputs with a batch dimension must
    agree on it (`step`'s token and state). Each mismatch is an InvalidArgument naming the input."""
    parameters = inspect.signature(fn)

    @functools.wraps(fn)
    def checked(*args, **kwargs):
        inputs = parameters.bind(*args, **kwargs).arguments
        inputs = {k: tf.ensure_shape(v, spec.shape) for (k, v), spec in zip(inputs.items(), signature)}
        batched = [k for k, spec in zip(inputs, signature) if spec.shape.rank and spec.shape[0] is None]
        checks = [
            tf.debugging.assert_equal(
                tf.shape(inputs[k])[0],
                tf.shape(inputs[batched[0]])[0],
                message=f"{k} and {batched[0]} must have the same batch size (first dimension)",
            )
            for k in batched[1:]
        ]
        with tf.control_dependencies(checks):
            return fn(**{k: tf.identity(v) for k, v in inputs.items()})

    return checked


def write_savedmodel(module, endpoints: dict, path: Path, check_shapes: bool = True) -> None:
    archive = keras.export.ExportArchive()
    if module is not None:  # lookup tables are not found through the endpoints alone
        archive.track(module)
    for name, (fn, signature) in endpoints.items():
        archive.add_endpoint(
            name, shape_checked(fn, signature) if check_shapes else fn, input_signature=signature
        )
    archive.write_out(str(path), verbose=False)


def convert_to_litert(name: str, fn, signature: list, workdir: Path) -> dict[str, bytes]:
    """Float32 and dynamic-range-quantized .tflite bytes, TFLITE_BUILTINS only.

    Conversion goes through a SavedModel holding just this fixed-shape function
    (and only the variables it uses: a lookup table would need Flex ops), so
    the .tflite signature keeps the input and output names.
    """
    savedmodel = workdir / f"_convert_{name}"
    write_savedmodel(None, {name: (fn, signature)}, savedmodel, check_shapes=False)  # fixed shapes
    out = {}
    for suffix, optimizations in (("", []), ("_drq", [tf.lite.Optimize.DEFAULT])):
        converter = tf.lite.TFLiteConverter.from_saved_model(str(savedmodel), signature_keys=[name])
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        converter.optimizations = optimizations
        out[suffix] = converter.convert()
    shutil.rmtree(savedmodel)
    return out


def check_savedmodel_is_portable(path: Path) -> None:
    """Refuse (UserError) a written SavedModel that a CPU TF Serving could not load or that would
    answer in half precision: a GPU-only op in any function (library functions included), or a
    float16 / bfloat16 signature input or output."""
    from tensorflow.core.framework import types_pb2
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString((path / "saved_model.pb").read_bytes())
    problems = []
    for graph in saved.meta_graphs:
        nodes = [*graph.graph_def.node, *(n for f in graph.graph_def.library.function for n in f.node_def)]
        problems += [f"GPU-only op {op}" for op in portable.forbidden_ops(n.op for n in nodes)]
        for signature_name, signature in graph.signature_def.items():
            for kind, tensors in (("input", signature.inputs), ("output", signature.outputs)):
                problems += [
                    f"{signature_name} {kind} '{name}' is {types_pb2.DataType.Name(t.dtype)[3:].lower()}"
                    for name, t in tensors.items()
                    if t.dtype in (types_pb2.DT_HALF, types_pb2.DT_BFLOAT16)
                ]
    if problems:
        raise UserError(f"not publishing the SavedModel: {'; '.join(sorted(set(problems)))}")


def check_litert_is_portable(name: str, content: bytes) -> None:
    """Refuse (UserError) a .tflite holding a custom op (Flex, cuDNN: any op outside LiteRT's
    builtins, in any subgraph) or a half-precision signature input or output."""
    from ai_edge_litert.interpreter import Interpreter
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(content, 0)
    codes = [model.OperatorCodes(i) for i in range(model.OperatorCodesLength())]
    custom = schema.BuiltinOperator.CUSTOM
    problems = [
        f"custom op {code.CustomCode().decode()}"
        for code in codes
        if custom in (code.BuiltinCode(), code.DeprecatedBuiltinCode())
    ]
    runner = Interpreter(model_content=content).get_signature_runner()
    details = {**runner.get_input_details(), **runner.get_output_details()}
    problems += [
        f"'{tensor}' is {d['dtype'].__name__}"
        for tensor, d in details.items()
        if d["dtype"].__name__ in portable.HALF_PRECISION
    ]
    if problems:
        raise UserError(f"not publishing LiteRT '{name}': {'; '.join(sorted(set(problems)))}")


def write_models_config(out_root: Path) -> Path:
    """TF Serving's model config: every model directory that holds a numeric version."""
    names = sorted(
        d.name
        for d in out_root.iterdir()
        if d.is_dir() and d.name != LITERT_DIR and any(p.name.isdigit() for p in d.iterdir())
    )
    entries = "".join(
        f'  config {{\n    name: "{n}"\n    base_path: "/models/{n}"\n    model_platform: "tensorflow"\n  }}\n'
        for n in names
    )
    path = out_root / CONFIG_FILE
    write_atomically(path, f"model_config_list {{\n{entries}}}\n")
    return path


def export(spec: ServingSpec, out_root) -> dict:
    """Write every format of `spec`; returns the paths written."""
    out_root = Path(out_root)
    locks.hold(out_root, "export", wait=True)  # one export at a time: versions stay distinct
    try:
        return _export(spec, out_root)
    finally:
        locks.release(out_root)


def _export(spec: ServingSpec, out_root: Path) -> dict:
    model_root, litert_root = out_root / spec.name, out_root / LITERT_DIR / spec.name
    for root in (model_root, litert_root):
        root.mkdir(parents=True, exist_ok=True)
        for stale in root.glob(".tmp-*"):  # left by an interrupted export
            shutil.rmtree(stale, ignore_errors=True)
    version = next_version(model_root, litert_root)
    tmp_model, tmp_litert = model_root / f".tmp-{version}", litert_root / f".tmp-{version}"
    metadata = json.dumps(spec.metadata, ensure_ascii=False, indent=1) + "\n"
    steps = 1 + len(spec.litert)
    try:
        print(f"[1/{steps + 1}] SavedModel with signatures {', '.join(spec.endpoints)} ...")
        write_savedmodel(spec.module, spec.endpoints, tmp_model)
        check_savedmodel_is_portable(tmp_model)
        (tmp_model / "assets.extra").mkdir()
        (tmp_model / "assets.extra" / "metadata.json").write_text(metadata, encoding="utf-8")
        warmup.write(spec, tmp_model)  # TF Serving replays these before serving the version
        tmp_litert.mkdir()
        litert_files = []
        for i, (name, (fn, signature)) in enumerate(spec.litert.items()):
            print(f"[{i + 2}/{steps + 1}] LiteRT '{name}' (float32 and dynamic-range quantized) ...")
            for suffix, content in convert_to_litert(name, fn, signature, tmp_litert).items():
                check_litert_is_portable(f"{name}{suffix}", content)
                file = tmp_litert / f"{spec.name}_{name}{suffix}.tflite"
                file.write_bytes(content)
                litert_files.append(litert_root / str(version) / file.name)
        (tmp_litert / f"{spec.name}.json").write_text(metadata, encoding="utf-8")
        print(f"[{steps + 1}/{steps + 1}] Publishing version {version} ...")
        os.rename(tmp_litert, litert_root / str(version))
        os.rename(tmp_model, model_root / str(version))  # last: the server sees a complete version
    except BaseException:
        shutil.rmtree(tmp_model, ignore_errors=True)
        shutil.rmtree(tmp_litert, ignore_errors=True)
        raise
    config = write_models_config(out_root)
    return {
        "version": version,
        "savedmodel": model_root / str(version),
        "litert": litert_files,
        "metadata": litert_root / str(version) / f"{spec.name}.json",
        "models_config": config,
    }
