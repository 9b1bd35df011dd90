"""What the two-input element-wise ops with broadcasting (MUL, SUB) share: the shapes they accept,
their operands in the blob (an activation, or a constant such as a scalar factor) and their golden
kernels' broadcasting (numpy's, which is TFLite's: shapes aligned at their last dimension)."""

from __future__ import annotations

from quantize.blob_format import dims4
from quantize.errors import UnsupportedModelError
from quantize.graph import Graph, Operator
from quantize.ops import checks
from quantize.ops.base import LoweringContext


def validate_broadcast(graph: Graph, op: Operator) -> None:
    """Two int8 operands of rank <= 4, each of the output's 4-D shape or 1 along any of its
    dimensions (a per-channel [N, 1, 1, C] or [1, C] gate, a scalar, the same shape), one of
    them an activation."""
    checks.require_int8(graph, op.inputs[:2], "input")
    checks.require_int8(graph, op.outputs, "activation")
    out = dims4(graph.tensor(op.outputs[0]).shape)
    shapes = [graph.tensor(i).shape for i in op.inputs[:2]]
    for shape in shapes:
        if len(shape) > 4 or any(d not in (1, o) for d, o in zip(dims4(shape), out)):
            raise UnsupportedModelError(
                f"broadcasting {list(shapes[0])} with {list(shapes[1])} to {list(out)} (supported: each input "
                "of the output's shape or 1 along a dimension, rank <= 4)")
    if all(graph.tensor(i).data is not None for i in op.inputs[:2]):
        raise UnsupportedModelError("both inputs are constant (supported: at least one activation)")


def operand(lowering: LoweringContext, index: int) -> int:
    """The blob tensor of an operand: its activation, or its constant with 4-D dims."""
    tensor = lowering.graph.tensor(index)
    if tensor.data is None:
        return lowering.activation(index)
    return lowering.const(index, dims4(tensor.shape))

