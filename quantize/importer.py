"""Bringing a user's model in: Keras (.keras/.h5), a SavedModel folder, or an int8 .tflite."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from quantize.convert import convert_keras_to_int8, convert_saved_model_to_int8
from quantize.errors import ModelImportError, UnsupportedModelError
from quantize.tflite_model import Graph, parse_tflite


def model_kind(path: Path) -> str:
    """'keras', 'savedmodel' or 'tflite' from the path; raises ModelImportError otherwise."""
    if path.is_dir():
        if (path / "saved_model.pb").is_file():
            return "savedmodel"
        raise ModelImportError(f"{path}: a folder but not a SavedModel (no saved_model.pb)")
    if not path.exists():
        raise ModelImportError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in (".keras", ".h5"):
        return "keras"
    if suffix == ".tflite":
        return "tflite"
    raise ModelImportError(f"{path}: unknown model format '{suffix}', expected .keras, .h5, .tflite or a SavedModel folder")


def model_input_shape(path: Path) -> tuple[int, ...]:
    """The input shape (without the batch) of a model file."""
    kind = model_kind(path)
    if kind == "tflite":
        graph = check_int8_tflite(path.read_bytes(), str(path))
        return graph.tensor(graph.inputs[0]).shape[1:]
    if kind == "keras":
        return tuple(load_keras(path).input_shape[1:])
    import tensorflow as tf

    signature = tf.saved_model.load(str(path)).signatures["serving_default"]
    spec = list(signature.structured_input_signature[1].values())[0]
    return tuple(int(d) for d in spec.shape[1:])


def check_int8_tflite(tflite: bytes, where: str) -> Graph:
    """The parsed graph of a full-integer int8 model mcutrain implements (parse_tflite); raises
    ModelImportError naming `where` (the file) otherwise."""
    try:
        return parse_tflite(tflite)
    except UnsupportedModelError as err:
        raise ModelImportError(f"{where}: {err}") from None


def quantize_model(path: Path, calibration: np.ndarray | None) -> bytes:
    """An int8 .tflite for the model at `path`. calibration: float32 inputs [N, ...] already
    preprocessed as at training (ignored for a .tflite, which is validated and passed through)."""
    kind = model_kind(path)
    if kind == "tflite":
        tflite = path.read_bytes()
        check_int8_tflite(tflite, str(path))
        return tflite
    if calibration is None:
        raise ModelImportError(f"{path}: a float model needs calibration data (--calib)")
    if kind == "keras":
        return convert_keras_to_int8(load_keras(path), calibration)
    return convert_saved_model_to_int8(str(path), calibration)


def load_keras(path: Path):
    import keras

    try:
        return keras.models.load_model(path, compile=False)
    except Exception as err:
        raise ModelImportError(f"{path}: cannot load the Keras model ({err})") from None
