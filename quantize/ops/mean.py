"""MEAN of an int8 tensor over any of its axes (H and W: global average pooling; one axis of a
[N, T, C] sequence; the channels): options, validation, Prepare, parameter block, golden kernel and
lowering. TFLite Micro's integer MEAN, whatever the axes: the sum of (x - zp_in) over the reduced
elements through one MultiplyByQuantizedMultiplier whose multiplier the count divides."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quantize.blob_format import OpCode
from quantize.errors import UnsupportedModelError
from quantize.graph import Graph, Operator, Tensor
from quantize.layout import Layout
from quantize.ops import checks, options
from quantize.ops.base import Inputs, LoweringContext, OpDef, emit_single_input
from quantize.requant import INT8_MAX, INT8_MIN, clamp, mean_multiplier, multiply_by_quantized_multiplier

MEAN_PARAMS = Layout("kernels::MeanParams",
                     ("input_zero_point", "i"), ("output_zero_point", "i"), ("multiplier", "i"), ("shift", "i"),
                     ("axes", "i"))


@dataclass(frozen=True)
class MeanOptions:
    axes: tuple[int, ...]   # non-negative, sorted
    keep_dims: bool


def read_options(raw, inputs: tuple[int, ...], tensors: tuple[Tensor, ...]) -> MeanOptions:
    axes = options.constant(tensors, inputs, 1, "the axes of MEAN")
    rank = len(tensors[inputs[0]].shape)
    return MeanOptions(tuple(sorted({int(a) % rank for a in axes.ravel()})), bool(raw.keepDims) if raw else False)


def validate(graph: Graph, op: Operator) -> None:
    checks.require_int8_activations(graph, op)
    rank = len(graph.tensor(op.inputs[0]).shape)
    if rank > 4 or not op.options.axes:
        raise UnsupportedModelError(f"MEAN over axes {list(op.options.axes)} of a rank-{rank} tensor (supported: "
                                    "any non-empty set of axes of a tensor of rank <= 4)")


def axes_mask(graph: Graph, op: Operator) -> int:
    """The reduced axes as bits of the input's 4-D NHWC dims (leading 1s added): bit 0 N ... bit 3 C."""
    rank = len(graph.tensor(op.inputs[0]).shape)
    return sum(1 << (axis + 4 - rank) for axis in op.options.axes)


def reduced_count(graph: Graph, op: Operator) -> int:
    """Input elements averaged into one output element."""
    shape = graph.tensor(op.inputs[0]).shape
    return int(np.prod([shape[a] for a in op.options.axes]))


@dataclass(frozen=True)
class MeanParams:
    input_zero_point: int
    output_zero_point: int
    multiplier: int   # of input_scale / output_scale / count
    shift: int
    axes: int         # axes_mask


def prepare(graph: Graph, op: Operator) -> MeanParams:
    x, y = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    return MeanParams(x.zero_point, y.zero_point, *mean_multiplier(x.scale / y.scale, reduced_count(graph, op)),
                      axes_mask(graph, op))


def mean_s8(p: MeanParams, x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """x reduced over `axes` (kept as dims of 1): (sum - count * input_zero_point) rescaled, plus the
    output zero point."""
    count = int(np.prod([x.shape[a] for a in axes]))
    total = x.astype(np.int64).sum(axis=axes, keepdims=True) - count * p.input_zero_point
    scaled = multiply_by_quantized_multiplier(total, p.multiplier, p.shift)
    return clamp(scaled + p.output_zero_point, INT8_MIN, INT8_MAX)


def forward(graph: Graph, op: Operator, inputs: Inputs) -> np.ndarray:
    return mean_s8(prepare(graph, op), inputs[0], op.options.axes).reshape(graph.tensor(op.outputs[0]).shape)


def lower(lowering: LoweringContext, op: Operator) -> None:
    emit_single_input(lowering, op, OpCode.MEAN, MEAN_PARAMS.pack_from(prepare(lowering.graph, op)))


OP = OpDef("MEAN", read_options, validate, forward, lower, opcode=OpCode.MEAN, params=MEAN_PARAMS, prepare=prepare)
