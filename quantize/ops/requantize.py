"""TFLite's QUANTIZE: int8 -> int8 inside the graph (the blob's REQUANTIZE, a change of scale and
zero point), or float32 -> int8 of the model input, which the host does before the device runs (see
Graph.converts_at_edge). Options, validation, Prepare, parameter block, golden kernel and lowering;
it may run in place (the kernel is element-wise)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quantize.blob_format import OpCode
from quantize.errors import UnsupportedModelError
from quantize.graph import Graph, Operator
from quantize.layout import Layout
from quantize.ops import checks
from quantize.ops.base import elementwise_op, no_options
from quantize.requant import INT8_MAX, INT8_MIN, clamp, multiply_by_quantized_multiplier, quantize_multiplier

REQUANTIZE_PARAMS = Layout("kernels::RequantizeParams",
                           ("input_zero_point", "i"), ("output_zero_point", "i"), ("multiplier", "i"), ("shift", "i"))


def validate(graph: Graph, op: Operator) -> None:
    source = graph.tensor(op.inputs[0]).dtype
    if source == "float32" and op.inputs[0] == graph.inputs[0]:
        checks.require_int8(graph, op.outputs, "output")
        return
    if source != "int8":
        raise UnsupportedModelError(
            f"{source} input (supported: int8 -> int8, or float32 -> int8 of the model input)")
    checks.require_int8(graph, op.inputs[:1] + op.outputs, "input/output")


@dataclass(frozen=True)
class RescaleParams:
    """A change of scale and zero point: int8 QUANTIZE's."""

    input_zero_point: int
    output_zero_point: int
    multiplier: int   # of input_scale / output_scale (MEAN: / count)
    shift: int


def prepare(graph: Graph, op: Operator) -> RescaleParams:
    x, y = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    return RescaleParams(x.zero_point, y.zero_point, *quantize_multiplier(x.scale / y.scale))


def requantize_s8(p: RescaleParams, x: np.ndarray) -> np.ndarray:
    """TFLite's QUANTIZE from int8 to int8: a change of scale and zero point."""
    scaled = multiply_by_quantized_multiplier(x.astype(np.int64) - p.input_zero_point, p.multiplier, p.shift)
    return clamp(scaled + p.output_zero_point, INT8_MIN, INT8_MAX)


OP = elementwise_op("QUANTIZE", no_options, validate, prepare, requantize_s8, OpCode.REQUANTIZE, REQUANTIZE_PARAMS)
