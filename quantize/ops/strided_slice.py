"""STRIDED_SLICE of an int8 activation along one axis with stride 1 (a channel range, as `x[..., a:b]`
converts), and SPLIT / SPLIT_V, which the parser lowers to one such slice per output: options,
validation, parameter block, golden kernel and lowering.

TFLite Micro's int8 kernel copies bytes (the converter gives the output its input's quantization,
which is required here): the forward pass is a copy and bit-exact by construction. A SPLIT's outputs
are each a range of the input along its axis, so each becomes its own STRIDED_SLICE operator of the
parsed graph (operators after it are numbered one later per extra output).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quantize.blob_format import OpCode
from quantize.errors import UnsupportedModelError
from quantize.graph import Graph, Operator, Tensor
from quantize.layout import Layout
from quantize.ops import checks, options
from quantize.ops.base import Inputs, LoweringContext, OpDef, emit_single_input

SLICE_PARAMS = Layout("kernels::SliceParams", ("axis", "i"), ("begin", "i"))
assert SLICE_PARAMS.size == 8
SPLIT_OPS = ("SPLIT", "SPLIT_V")  # lowered to STRIDED_SLICE operators by the parser (split_slices)


@dataclass(frozen=True)
class SliceOptions:
    axis: int   # non-negative, in the input's rank: the one axis the slice narrows
    begin: int  # first index kept along it (the output's shape gives the count)


def read_options(raw, inputs: tuple[int, ...], tensors: tuple[Tensor, ...]) -> SliceOptions:
    shape = tensors[inputs[0]].shape
    rank = len(shape)
    if raw.ellipsisMask or raw.newAxisMask or raw.shrinkAxisMask:
        raise UnsupportedModelError("ellipsis, new-axis or shrink-axis masks (supported: none)")
    begin = options.constant(tensors, inputs, 1, "the begin of STRIDED_SLICE").astype(np.int64)
    end = options.constant(tensors, inputs, 2, "the end of STRIDED_SLICE").astype(np.int64)
    strides = options.constant(tensors, inputs, 3, "the strides of STRIDED_SLICE").astype(np.int64)
    if not len(begin) == len(end) == len(strides) == rank:
        raise UnsupportedModelError(f"{len(begin)} begin indices for a rank-{rank} input")
    if any(s != 1 for s in strides):
        raise UnsupportedModelError(f"strides {[int(s) for s in strides]} (supported: 1)")
    ranges = []
    for d, size in enumerate(shape):
        b = 0 if raw.beginMask >> d & 1 else int(begin[d]) + (size if begin[d] < 0 else 0)
        e = size if raw.endMask >> d & 1 else int(end[d]) + (b if raw.offset else size if end[d] < 0 else 0)
        b, e = min(max(b, 0), size), min(max(e, 0), size)
        ranges.append((b, max(e, b)))
    narrowed = [d for d, (b, e) in enumerate(ranges) if (b, e) != (0, shape[d])]
    if len(narrowed) > 1:
        raise UnsupportedModelError(f"a slice along axes {narrowed} (supported: one axis)")
    axis = narrowed[0] if narrowed else rank - 1
    return SliceOptions(axis, ranges[axis][0])


def split_slices(name: str, raw, inputs: tuple[int, ...], outputs: tuple[int, ...],
                 tensors: tuple[Tensor, ...]) -> list[tuple[tuple[int, ...], tuple[int, ...], SliceOptions]]:
    """SPLIT (inputs: axis, input) or SPLIT_V (input, size_splits, axis) as one slice per output:
    (inputs, outputs, options) of each STRIDED_SLICE operator."""
    x, axis_position = (inputs[1], 0) if name == "SPLIT" else (inputs[0], 2)
    axis = int(options.constant(tensors, inputs, axis_position, f"the axis of {name}").reshape(-1)[0])
    rank = len(tensors[x].shape)
    if not -rank <= axis < rank:
        raise UnsupportedModelError(f"axis {axis} of a rank-{rank} input")
    axis += rank if axis < 0 else 0
    slices, begin = [], 0
    for output in outputs:
        slices.append(((x,), (output,), SliceOptions(axis, begin)))
        begin += tensors[output].shape[axis]
    if begin != tensors[x].shape[axis]:
        raise UnsupportedModelError(f"outputs' sizes along axis {axis} do not add up to the input's")
    return slices


def validate(graph: Graph, op: Operator) -> None:
    checks.require_int8_activations(graph, op)
    checks.require_same_quantization(graph, op.inputs[0], op.outputs[0])  # TFLite Micro copies bytes
    x, y = graph.tensor(op.inputs[0]).shape, graph.tensor(op.outputs[0]).shape
    axis, begin = op.options.axis, op.options.begin
    if len(x) > 4 or len(y) != len(x) or tuple(y) != x[:axis] + (y[axis],) + x[axis + 1:] or begin + y[axis] > x[axis]:
        raise UnsupportedModelError(f"output shape {list(y)} is not a range of the input {list(x)} along axis {axis}")


def slice_s8(x: np.ndarray, axis: int, begin: int, count: int) -> np.ndarray:
    """Elements begin..begin + count - 1 of x along `axis` (a copy)."""
    return np.take(x, range(begin, begin + count), axis=axis).astype(np.int8)


def forward(graph: Graph, op: Operator, inputs: Inputs) -> np.ndarray:
    axis = op.options.axis
    return slice_s8(inputs[0], axis, op.options.begin, graph.tensor(op.outputs[0]).shape[axis])


def lower(lowering: LoweringContext, op: Operator) -> None:
    # The blob's 4-D dims have leading 1s: the axis moves by the rank's difference.
    rank = len(lowering.graph.tensor(op.inputs[0]).shape)
    params = SLICE_PARAMS.pack_fields({"axis": op.options.axis + 4 - rank, "begin": op.options.begin})
    emit_single_input(lowering, op, OpCode.SLICE, params)


OP = OpDef("STRIDED_SLICE", read_options, validate, forward, lower, opcode=OpCode.SLICE, params=SLICE_PARAMS)
