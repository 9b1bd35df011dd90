"""MEAN over H and W of an NHWC tensor: options, validation, Prepare, parameter block, golden kernel
and lowering."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quantize.blob_format import OpCode
from quantize.errors import UnsupportedModelError
from quantize.graph import Graph, Operator, Tensor
from quantize.layout import Layout
from quantize.ops import checks, options
from quantize.ops.base import Inputs, LoweringContext, OpDef, emit_single_input
from quantize.ops.requantize import RescaleParams
from quantize.requant import INT8_MAX, INT8_MIN, clamp, mean_multiplier, multiply_by_quantized_multiplier

MEAN_PARAMS = Layout("kernels::MeanParams",
                     ("input_zero_point", "i"), ("output_zero_point", "i"), ("multiplier", "i"), ("shift", "i"))
SUPPORTED_AXES = (1, 2)


@dataclass(frozen=True)
class MeanOptions:
    axes: tuple[int, ...]   # non-negative, sorted
    keep_dims: bool


def read_options(raw, inputs: tuple[int, ...], tensors: tuple[Tensor, ...]) -> MeanOptions:
    axes = options.constant(tensors, inputs, 1, "the axes of MEAN")
    rank = len(tensors[inputs[0]].shape)
    return MeanOptions(tuple(sorted(int(a) % rank for a in axes.ravel())), bool(raw.keepDims) if raw else False)


def validate(graph: Graph, op: Operator) -> None:
    checks.require_int8_activations(graph, op)
    rank = len(graph.tensor(op.inputs[0]).shape)
    if rank != 4 or op.options.axes != SUPPORTED_AXES:
        raise UnsupportedModelError(
            f"MEAN over axes {list(op.options.axes)} of a rank-{rank} tensor (supported: axes [1, 2] of NHWC)")


def prepare(graph: Graph, op: Operator) -> RescaleParams:
    x, y = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    return RescaleParams(x.zero_point, y.zero_point, *mean_multiplier(x.scale / y.scale, x.shape[1] * x.shape[2]))


def mean_hw_s8(p: RescaleParams, x: np.ndarray) -> np.ndarray:
    """x [N, H, W, C] -> [N, C]: (sum - count * input_zero_point) rescaled, plus the output zero point."""
    count = x.shape[1] * x.shape[2]
    total = x.astype(np.int64).sum(axis=(1, 2)) - count * p.input_zero_point
    scaled = multiply_by_quantized_multiplier(total, p.multiplier, p.shift)
    return clamp(scaled + p.output_zero_point, INT8_MIN, INT8_MAX)


def forward(graph: Graph, op: Operator, inputs: Inputs) -> np.ndarray:
    return mean_hw_s8(prepare(graph, op), inputs[0]).reshape(graph.tensor(op.outputs[0]).shape)


def lower(lowering: LoweringContext, op: Operator) -> None:
    emit_single_input(lowering, op, OpCode.MEAN, MEAN_PARAMS.pack_from(prepare(lowering.graph, op)))


OP = OpDef("MEAN", read_options, validate, forward, lower, opcode=OpCode.MEAN, params=MEAN_PARAMS, prepare=prepare)
