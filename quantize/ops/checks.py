"""Validation the op modules share: the tensor types and shapes the reference kernels assume. Each
check raises UnsupportedModelError; parse_tflite prefixes the operator index and op."""

from __future__ import annotations

from quantize.errors import UnsupportedModelError
from quantize.graph import Graph, Operator

WINDOW_PADDINGS = ("SAME", "VALID")


def require_int8(graph: Graph, indices: tuple[int, ...], role: str) -> None:
    for i in indices:
        t = graph.tensor(i)
        if t.dtype != "int8" or t.quantization is None:
            raise UnsupportedModelError(f"{role} tensor '{t.name}' is {t.dtype} (supported: quantized int8)")


def require_int8_activations(graph: Graph, op: Operator, inputs: int = 1) -> None:
    """The op's first `inputs` inputs and its outputs are quantized int8 activations."""
    require_int8(graph, op.inputs[:inputs] + op.outputs, "activation")


def require_same_quantization(graph: Graph, a: int, b: int) -> None:
    ta, tb = graph.tensor(a), graph.tensor(b)
    if (ta.scale, ta.zero_point) != (tb.scale, tb.zero_point):
        raise UnsupportedModelError(
            f"input quantization ({ta.scale}, {ta.zero_point}) differs from the output's "
            f"({tb.scale}, {tb.zero_point}) (supported: equal)")


def require_nhwc_window(graph: Graph, op: Operator, padding: str) -> None:
    """A windowed op (convolution, pooling) reads an NHWC input with SAME or VALID padding."""
    rank = len(graph.tensor(op.inputs[0]).shape)
    if rank != 4:
        raise UnsupportedModelError(f"input of rank {rank} (supported: 4, NHWC)")
    if padding not in WINDOW_PADDINGS:
        raise UnsupportedModelError(f"padding {padding} (supported: {', '.join(WINDOW_PADDINGS)})")


def require_constant_weights(graph: Graph, op: Operator) -> None:
    """Input 1 holds constant quantized int8 weights, input 2 (if any) a constant int32 bias."""
    weights = graph.tensor(op.inputs[1])
    if weights.dtype != "int8" or weights.data is None or weights.quantization is None:
        raise UnsupportedModelError(f"weights '{weights.name}' are {weights.dtype} "
                                    f"{'constant' if weights.data is not None else 'variable'} "
                                    "(supported: constant quantized int8)")
    bias = bias_index(op)
    if bias is not None:
        tensor = graph.tensor(bias)
        if tensor.dtype != "int32" or tensor.data is None:
            raise UnsupportedModelError(f"bias '{tensor.name}' is {tensor.dtype} (supported: constant int32)")


def bias_index(op: Operator) -> int | None:
    """The bias tensor of a CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED, None when omitted."""
    return op.inputs[2] if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
