"""The step network written in each export format, and read back by the runtime each format is made for:
ONNX (tf2onnx, onnxruntime), a SavedModel (Keras 3's ExportArchive, TensorFlow) and TFLite (TensorFlow's
converter, LiteRT)."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from musicgen.formats.export import NETWORK_FILES
from musicgen.models.single_step import INPUTS, OUTPUTS, SingleStep

ONNX_OPSET = 17  # onnxruntime 1.16 and later run it; LSTM/GRU steps need nothing newer
ENDPOINT = "step"  # the SavedModel's and TFLite file's signature

# (block, state, prenet_mask) -> (distribution, next_state), numpy in and out
StepRunner = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def write_network(step: SingleStep, model, export_format: str, folder: Path) -> Path:
    """Write `step` (of `model`, whose variables it reads) into `folder` in `export_format`; return its path."""
    path = Path(folder) / NETWORK_FILES[export_format]
    if export_format == "onnx":
        import tf2onnx

        logging.getLogger("tf2onnx").setLevel(logging.ERROR)
        tf2onnx.convert.from_function(step.function(), input_signature=step.signature(), opset=ONNX_OPSET,
                                      output_path=str(path))
    elif export_format == "savedmodel":
        _write_saved_model(step, model, path)
    else:
        import tensorflow as tf

        with tempfile.TemporaryDirectory() as scratch:
            saved = _write_saved_model(step, model, Path(scratch) / "saved_model")
            converter = tf.lite.TFLiteConverter.from_saved_model(str(saved), signature_keys=[ENDPOINT])
            path.write_bytes(converter.convert())
    return path


def _write_saved_model(step: SingleStep, model, path: Path) -> Path:
    import keras

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(name=ENDPOINT, fn=step.function(), input_signature=step.signature())
    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(logging.WARNING)  # not "Assets written to ..." for every SavedModel
    try:
        archive.write_out(str(path), verbose=False)
    finally:
        logger.setLevel(level)
    return path


def load_step(path: Path, export_format: str) -> StepRunner:
    """The step network at `path` as the runtime of its format runs it."""
    if export_format == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return lambda *inputs: tuple(session.run(list(OUTPUTS), dict(zip(INPUTS, inputs))))
    if export_format == "savedmodel":
        import tensorflow as tf

        endpoint = tf.saved_model.load(str(path)).signatures[ENDPOINT]

        def run(*inputs):
            out = endpoint(**{name: tf.constant(value) for name, value in zip(INPUTS, inputs)})
            return tuple(out[name].numpy() for name in OUTPUTS)
        return run
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    # The plain kernels: the XNNPACK delegate would announce itself on standard error, and adds nothing to a check.
    plain = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    runner = Interpreter(model_path=str(path), experimental_op_resolver_type=plain).get_signature_runner(ENDPOINT)

    def run_lite(*inputs):
        out = runner(**dict(zip(INPUTS, inputs)))
        return tuple(out[name] for name in OUTPUTS)
    return run_lite
