"""MUL of two int8 tensors, one broadcast against the other (quantize/ops/broadcast.py: a
squeeze-and-excitation gate [N, 1, 1, C] times its feature map, a scalar factor) or of the same
shape: TFLite's int8 MUL, the product of the zero-point-free inputs rescaled once to the output."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quantize.blob_format import ACTIVATION_RANGE, OpCode
from quantize.graph import Graph, Operator
from quantize.layout import Layout
from quantize.ops import add
from quantize.ops.base import Inputs, LoweringContext, OpDef
from quantize.ops.broadcast import operand, validate_broadcast
from quantize.requant import activation_range, clamp, multiply_by_quantized_multiplier, quantize_multiplier

MUL_PARAMS = Layout("kernels::MulParams",
                    ("input1_offset", "i"), ("input2_offset", "i"), ("output_offset", "i"),
                    ("output_multiplier", "i"), ("output_shift", "i"), ("act", ACTIVATION_RANGE))
assert MUL_PARAMS.size == 28


@dataclass(frozen=True)
class MulParams:
    input1_offset: int
    input2_offset: int
    output_offset: int
    output_multiplier: int
    output_shift: int
    act_min: int
    act_max: int


def prepare(graph: Graph, op: Operator) -> MulParams:
    """TFLite's int8 MUL Prepare: one multiplier for s_1 * s_2 / s_y (in double)."""
    a, b, y = (graph.tensor(i) for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
    multiplier, shift = quantize_multiplier(a.scale * b.scale / y.scale)
    act_min, act_max = activation_range(op.options.activation, y.scale, y.zero_point)
    return MulParams(-a.zero_point, -b.zero_point, y.zero_point, multiplier, shift, act_min, act_max)


def mul_s8(p: MulParams, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise a * b, b broadcast against a (numpy's broadcasting, TFLite's)."""
    product = (a.astype(np.int64) + p.input1_offset) * (b.astype(np.int64) + p.input2_offset)
    scaled = multiply_by_quantized_multiplier(product, p.output_multiplier, p.output_shift)
    return clamp(scaled + p.output_offset, p.act_min, p.act_max)


def forward(graph: Graph, op: Operator, inputs: Inputs) -> np.ndarray:
    return mul_s8(prepare(graph, op), inputs[0], inputs[1])


def lower(lowering: LoweringContext, op: Operator) -> None:
    lowering.emit(OpCode.MUL, [operand(lowering, i) for i in op.inputs[:2]], lowering.activation(op.outputs[0]),
                  MUL_PARAMS.pack_from(prepare(lowering.graph, op)), 0)


OP = OpDef("MUL", add.read_options, validate_broadcast, forward, lower, opcode=OpCode.MUL, params=MUL_PARAMS,
           prepare=prepare)
