"""Decoding helpers the op modules share when they read their flatbuffer options: fused activation,
padding, strides, dilation, constant inputs. Each refuses what the kernels do not implement with an
UnsupportedModelError; parse_tflite prefixes the operator index and op."""

from __future__ import annotations

import numpy as np
import tflite_micro.tensorflow.lite.micro.python.schema_py_generated as schema

from quantize.errors import UnsupportedModelError
from quantize.graph import Tensor
from quantize.requant import SUPPORTED_ACTIVATIONS

SUPPORTED_STRIDES = (1, 2, 3, 4)
MAX_DILATION = 8

_ACTIVATION_NAMES = {code: name for name, code in vars(schema.ActivationFunctionType).items()
                     if not name.startswith("_")}
_PADDING_NAMES = {code: name for name, code in vars(schema.Padding).items() if not name.startswith("_")}


def activation(code: int) -> str:
    """The fused activation's name ("NONE", "RELU", "RELU6")."""
    name = _ACTIVATION_NAMES.get(code, str(code))
    if name not in SUPPORTED_ACTIVATIONS:
        raise UnsupportedModelError(
            f"fused activation {name} (supported: {', '.join(SUPPORTED_ACTIVATIONS)})")
    return name


def padding(code: int) -> str:
    """The padding's name ("SAME", "VALID"; the op's validation refuses others)."""
    return _PADDING_NAMES.get(code, str(code))


def strides(stride_h: int, stride_w: int) -> None:
    if stride_h not in SUPPORTED_STRIDES or stride_w not in SUPPORTED_STRIDES:
        raise UnsupportedModelError(f"stride {stride_h}x{stride_w} (supported: 1 to 4 in each dimension)")


def dilation(dilation_h: int, dilation_w: int) -> None:
    if not (1 <= dilation_h <= MAX_DILATION and 1 <= dilation_w <= MAX_DILATION):
        raise UnsupportedModelError(
            f"dilation {dilation_h}x{dilation_w} (supported: 1 to {MAX_DILATION} in each dimension)")


def constant(tensors: tuple[Tensor, ...], inputs: tuple[int, ...], position: int, what: str) -> np.ndarray:
    """The data of the op's input at `position`, which must be a constant tensor."""
    if len(inputs) <= position or inputs[position] < 0 or tensors[inputs[position]].data is None:
        raise UnsupportedModelError(f"{what} must be a constant tensor")
    return tensors[inputs[position]].data
