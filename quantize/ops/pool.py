"""AVERAGE_POOL_2D and MAX_POOL_2D: options, validation, Prepare and parameter block they share, and
each one's golden kernel and blob op."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quantize.blob_format import ACTIVATION_RANGE, OpCode
from quantize.graph import Graph, Operator, Tensor
from quantize.layout import Layout
from quantize.ops import checks, options
from quantize.ops.base import Inputs, LoweringContext, OpDef, emit_single_input
from quantize.ops.windows import leading_padding, windows
from quantize.requant import INT8_MIN, activation_range, clamp

POOL_PARAMS = Layout("kernels::PoolParams",
                     ("stride_h", "i"), ("stride_w", "i"), ("filter_h", "i"), ("filter_w", "i"), ("pad_top", "i"),
                     ("pad_left", "i"), ("act", ACTIVATION_RANGE))
assert POOL_PARAMS.size == 32


@dataclass(frozen=True)
class Pool2DOptions:
    padding: str
    stride_h: int
    stride_w: int
    filter_h: int
    filter_w: int
    activation: str


def read_options(raw, inputs: tuple[int, ...], tensors: tuple[Tensor, ...]) -> Pool2DOptions:
    options.strides(raw.strideH, raw.strideW)
    return Pool2DOptions(options.padding(raw.padding), raw.strideH, raw.strideW, raw.filterHeight, raw.filterWidth,
                         options.activation(raw.fusedActivationFunction))


def validate(graph: Graph, op: Operator) -> None:
    checks.require_int8_activations(graph, op)
    checks.require_nhwc_window(graph, op, op.options.padding)
    checks.require_same_quantization(graph, op.inputs[0], op.outputs[0])


@dataclass(frozen=True)
class PoolParams:
    stride_h: int
    stride_w: int
    filter_h: int
    filter_w: int
    pad_top: int
    pad_left: int
    act_min: int
    act_max: int


def prepare(graph: Graph, op: Operator) -> PoolParams:
    x, y = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    o = op.options
    act_min, act_max = activation_range(o.activation, y.scale, y.zero_point)
    return PoolParams(o.stride_h, o.stride_w, o.filter_h, o.filter_w,
                      leading_padding(o.padding, x.shape[1], o.filter_h, o.stride_h, y.shape[1]),
                      leading_padding(o.padding, x.shape[2], o.filter_w, o.stride_w, y.shape[2]),
                      act_min, act_max)


def _pool_windows(p: PoolParams, x: np.ndarray, out_hw: tuple[int, int], fill: int) -> np.ndarray:
    return windows(x, p.filter_h, p.filter_w, p.stride_h, p.stride_w, p.pad_top, p.pad_left, *out_hw, fill=fill)


def average_pool_s8(p: PoolParams, x: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
    """Mean of the window's in-bounds elements (padding is not counted), rounded half away from
    zero with C's truncating division: (sum +- count/2) / count."""
    total = _pool_windows(p, x.astype(np.int64), out_hw, fill=0).sum(axis=(-2, -1))
    ones = np.ones((1, *x.shape[1:3], 1), dtype=np.int64)
    count = _pool_windows(p, ones, out_hw, fill=0).sum(axis=(-2, -1))
    half = count // 2
    rounded = np.where(total > 0, (total + half) // count, -((half - total) // count))
    return clamp(rounded, p.act_min, p.act_max)


def max_pool_s8(p: PoolParams, x: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
    """Maximum of the window's in-bounds elements (padding reads as -128, the reference's start)."""
    best = _pool_windows(p, x, out_hw, fill=INT8_MIN).max(axis=(-2, -1))
    return clamp(best, p.act_min, p.act_max)


def _pool_op(name: str, opcode: OpCode, kernel) -> OpDef:
    def forward(graph: Graph, op: Operator, inputs: Inputs) -> np.ndarray:
        return kernel(prepare(graph, op), inputs[0], graph.tensor(op.outputs[0]).shape[1:3])

    def lower(lowering: LoweringContext, op: Operator) -> None:
        emit_single_input(lowering, op, opcode, POOL_PARAMS.pack_from(prepare(lowering.graph, op)))

    return OpDef(name, read_options, validate, forward, lower, opcode=opcode, params=POOL_PARAMS, prepare=prepare)


AVERAGE_POOL_2D = _pool_op("AVERAGE_POOL_2D", OpCode.AVERAGE_POOL_2D, average_pool_s8)
MAX_POOL_2D = _pool_op("MAX_POOL_2D", OpCode.MAX_POOL_2D, max_pool_s8)
