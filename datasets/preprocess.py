"""Preprocessing shared by the host and the device paths.

Images (uint8 files, the built-in datasets: pixels in [0, 1]) become a model input in three steps,
always in this order:
1. fit: resize (bilinear) or zero-pad (centred) to the model's (H, W), and convert the channel
   count (grey -> RGB by repetition, RGB -> grey by ITU-R 601 luma); any other channel count must
   be the model's;
2. scale: `x * scale + offset`, exactly as at training (ModelInput, from the model's manifest);
3. quantize: `round(x / s) + z` clamped to int8, with the input scale s and zero point z of the
   int8 .tflite, rounding half away from zero like TFLite's QUANTIZE kernel.
Features (a file's float array: sensor data in any range) skip steps 1 and 2: they are the model's
float input as they are, so their shape must be the model's input shape; step 3 is the same.
The bytes the host sends to the device are `preprocess_int8(...)`, the same array the host-side
reference (TFLM interpreter, golden model) is fed, and the fp32 yardstick trains on
`to_model_float(...)`, the values those bytes quantize; all three see the same input.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from mcutrain_datasets.errors import DatasetError

FitMethod = Literal["resize", "pad"]
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True)
class ModelInput:
    """The float input a model was trained on: shape (H, W, C), value = pixels_01 * scale + offset."""

    shape: tuple[int, int, int]
    scale: float = 1.0
    offset: float = 0.0


@dataclass(frozen=True)
class InputQuantization:
    """The int8 input tensor's affine quantization: real = scale * (q - zero_point)."""

    scale: float
    zero_point: int


def fit_images(
    x: np.ndarray, shape: tuple[int, int, int], method: FitMethod = "resize", where: str = "images"
) -> np.ndarray:
    """Images [N, h, w, c] in [0, 1] fitted to `shape` (H, W, C): float32 [N, H, W, C].
    `where` (the data's source) begins every error message."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 4:
        raise DatasetError(f"{where}: images have shape {x.shape}, expected [N, H, W, C]")
    height, width, channels = shape
    x = _fit_channels(x, shape, where)
    if x.shape[1:3] == (height, width):
        return x
    if method == "pad":
        return _pad(x, height, width, where)
    if method == "resize":
        return _resize(x, height, width)
    raise DatasetError(f"fit method '{method}', expected 'resize' or 'pad'")


def to_model_float(
    x: np.ndarray, model_input: ModelInput, method: FitMethod = "resize", *, images: bool = True, where: str = "data"
) -> np.ndarray:
    """The float model input (float32): images in [0, 1] fitted, then scaled as at training;
    features (images False) as they are, once their shape is checked to be the model's."""
    if not images:
        return _features(x, model_input.shape, where)
    fitted = fit_images(x, model_input.shape, method, where)
    return (fitted * np.float32(model_input.scale) + np.float32(model_input.offset)).astype(np.float32)


def quantize_int8(x: np.ndarray, quantization: InputQuantization) -> np.ndarray:
    """Float values quantized to int8: round-half-away-from-zero(x / scale) + zero_point, clamped."""
    scaled = np.asarray(x, dtype=np.float32) / np.float32(quantization.scale)
    rounded = np.sign(scaled) * np.floor(np.abs(scaled) + np.float32(0.5))
    return np.clip(rounded + quantization.zero_point, -128, 127).astype(np.int8)


def dequantize_int8(q: np.ndarray, quantization: InputQuantization) -> np.ndarray:
    """int8 values back to float32: scale * (q - zero_point)."""
    return (np.float32(quantization.scale) * (q.astype(np.float32) - np.float32(quantization.zero_point))).astype(
        np.float32
    )


def preprocess_int8(
    x: np.ndarray, model_input: ModelInput, quantization: InputQuantization, method: FitMethod = "resize", *,
    images: bool = True, where: str = "data",
) -> np.ndarray:
    """Images in [0, 1] (or features, images False) -> the int8 model input [N, H, W, C]."""
    return quantize_int8(to_model_float(x, model_input, method, images=images, where=where), quantization)


def read_input_quantization(tflite: bytes | str | Path) -> InputQuantization:
    """The input tensor's quantization of an int8 .tflite (bytes or a path), via tf.lite's interpreter."""
    import tensorflow as tf

    if isinstance(tflite, (str, Path)):
        path = Path(tflite)
        if not path.is_file():
            raise DatasetError(f"{path}: file not found")
        tflite = path.read_bytes()
    try:
        interpreter = tf.lite.Interpreter(model_content=bytes(tflite))
    except ValueError as err:
        raise DatasetError(f"not a readable .tflite model ({err})") from err
    detail = interpreter.get_input_details()[0]
    if detail["dtype"] != np.int8:
        raise DatasetError(f"model input '{detail['name']}' is {np.dtype(detail['dtype']).name}, expected int8")
    scale, zero_point = detail["quantization"]
    return InputQuantization(scale=float(scale), zero_point=int(zero_point))


def _features(x: np.ndarray, shape: tuple[int, ...], where: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.shape[1:] != tuple(shape):
        raise DatasetError(f"{where}: float samples have shape {x.shape[1:]}, the model's input is {tuple(shape)}: "
                           "float features are taken as they are, never resized, padded or converted")
    return x


def _fit_channels(x: np.ndarray, shape: tuple[int, int, int], where: str) -> np.ndarray:
    have, channels = x.shape[-1], shape[-1]
    if have == channels:
        return x
    if have == 1 and channels == 3:
        return np.repeat(x, 3, axis=-1)
    if have == 3 and channels == 1:
        return (x @ _LUMA)[..., None]
    raise DatasetError(f"{where}: samples have shape {x.shape[1:]}, the model's input is {tuple(shape)}: "
                       f"{have} channels cannot become {channels} (only images convert, grey <-> RGB)")


def _pad(x: np.ndarray, height: int, width: int, where: str) -> np.ndarray:
    h, w = x.shape[1:3]
    if h > height or w > width:
        raise DatasetError(f"{where}: images are {h}x{w}, larger than the model input {height}x{width}: resize, do not pad")
    top, left = (height - h) // 2, (width - w) // 2
    return np.pad(x, ((0, 0), (top, height - h - top), (left, width - w - left), (0, 0)))


def _resize(x: np.ndarray, height: int, width: int) -> np.ndarray:
    from PIL import Image

    out = np.empty((len(x), height, width, x.shape[-1]), dtype=np.float32)
    for i, image in enumerate(x):
        for c in range(x.shape[-1]):
            plane = Image.fromarray(image[..., c], mode="F").resize((width, height), Image.BILINEAR)
            out[i, ..., c] = np.asarray(plane)
    return np.clip(out, 0.0, 1.0)
