"""DEQUANTIZE of the model output: validation and golden kernel. The device never runs it (logits
are read as int8, see Graph.converts_at_edge), so it has no blob op."""

from __future__ import annotations

import numpy as np

from quantize.errors import UnsupportedModelError
from quantize.graph import Graph, Operator
from quantize.ops import checks
from quantize.ops.base import Inputs, OpDef, no_options


def validate(graph: Graph, op: Operator) -> None:
    if op.outputs[0] not in graph.outputs:
        raise UnsupportedModelError("DEQUANTIZE inside the graph (supported: of the model output only)")
    checks.require_int8(graph, op.inputs[:1], "input")


def dequantize_s8(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """TFLite's DEQUANTIZE: scale * (x - zero_point) in float32."""
    return (np.float32(scale) * (x.astype(np.int32) - zero_point).astype(np.float32)).astype(np.float32)


def forward(graph: Graph, op: Operator, inputs: Inputs) -> np.ndarray:
    x = graph.tensor(op.inputs[0])
    return dequantize_s8(inputs[0], x.scale, x.zero_point)


OP = OpDef("DEQUANTIZE", no_options, validate, forward, lower=None)
