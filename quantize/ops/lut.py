"""The blob's LUT op: an element-wise int8 -> int8 map given by a 256-entry table (LOGISTIC, TANH,
HARD_SWISH). The host runs the op's exact integer kernel, TFLite Micro's bit for bit, on the 256
int8 values once and the device looks each element up (firmware/lib/kernels/lut_s8.h), so the
device's output is the kernel's by construction; the golden forward looks up the same table.
Element-wise, so it may run in place. Backward: the error times the derivative of the op's float
function at the forward input (OpDef.derivative, quantize/training/program.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from quantize.blob_format import OpCode
from quantize.errors import UnsupportedModelError
from quantize.graph import Graph, Operator, Tensor
from quantize.layout import Layout
from quantize.ops import checks
from quantize.ops.base import INT8_VALUES, OpDef, elementwise_op, no_options
from quantize.requant import INT8_MIN

LUT_PARAMS = Layout("kernels::LutParams", ("table", "256s"))


@dataclass(frozen=True)
class LutParams:
    table: bytes  # int8: the output of each input -128..127


def lut_s8(p: LutParams, x: np.ndarray) -> np.ndarray:
    return np.frombuffer(p.table, dtype=np.int8)[x.astype(np.int64) - INT8_MIN]


def require_output_quantization(graph: Graph, op: Operator, scale: float, zero_point: int) -> None:
    """TFLite Micro's kernel writes its output in this fixed quantization whatever the tensor says
    (the converter gives it): another would make the int8 forward depart from the float model."""
    y: Tensor = graph.tensor(op.outputs[0])
    if (y.scale, y.zero_point) != (scale, zero_point):
        raise UnsupportedModelError(f"output quantization ({y.scale}, {y.zero_point}) (supported: ({scale}, "
                                    f"{zero_point}), the kernel's fixed one the converter gives)")


def lut_op(name: str, validate: Callable[[Graph, Operator], None], kernel_params: Callable[[Graph, Operator], object],
           kernel: Callable[[object, np.ndarray], np.ndarray],
           derivative: Callable[[Graph, Operator], np.ndarray]) -> OpDef:
    """The OpDef of an element-wise op the blob runs as a LUT: `kernel(kernel_params(...), x)` is
    TFLite Micro's integer kernel (TFLM's Prepare, then Eval) on int64 arrays."""
    def checked(graph: Graph, op: Operator) -> None:
        checks.require_int8_activations(graph, op)
        validate(graph, op)

    def prepare(graph: Graph, op: Operator) -> LutParams:
        return LutParams(np.asarray(kernel(kernel_params(graph, op), INT8_VALUES), dtype=np.int8).tobytes())

    return elementwise_op(name, no_options, checked, prepare, lut_s8, OpCode.LUT, LUT_PARAMS, derivative)
