"""ADD of two int8 tensors of the same shape: options, validation, Prepare, parameter block, golden
kernel and lowering. It may run in place: the kernel reads both inputs at an index before writing
the output there."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quantize.blob_format import ACTIVATION_RANGE, OpCode
from quantize.errors import UnsupportedModelError
from quantize.graph import Graph, Operator, Tensor
from quantize.layout import Layout
from quantize.ops import checks, options
from quantize.ops.base import Inputs, LoweringContext, OpDef
from quantize.requant import (
    ADD_LEFT_SHIFT,
    activation_range,
    clamp,
    multiply_by_quantized_multiplier,
    quantize_multiplier,
)

ADD_PARAMS = Layout("kernels::AddParams",
                    ("input1_offset", "i"), ("input2_offset", "i"), ("output_offset", "i"), ("left_shift", "i"),
                    ("input1_multiplier", "i"), ("input1_shift", "i"), ("input2_multiplier", "i"),
                    ("input2_shift", "i"), ("output_multiplier", "i"), ("output_shift", "i"), ("act", ACTIVATION_RANGE))
assert ADD_PARAMS.size == 48


@dataclass(frozen=True)
class AddOptions:
    activation: str


def read_options(raw, inputs: tuple[int, ...], tensors: tuple[Tensor, ...]) -> AddOptions:
    return AddOptions(options.activation(raw.fusedActivationFunction))


def validate(graph: Graph, op: Operator) -> None:
    checks.require_int8_activations(graph, op, inputs=2)
    a, b = graph.tensor(op.inputs[0]).shape, graph.tensor(op.inputs[1]).shape
    if a != b:
        raise UnsupportedModelError(f"broadcasting {list(a)} + {list(b)} (supported: inputs of the same shape)")


@dataclass(frozen=True)
class AddParams:
    input1_offset: int
    input2_offset: int
    output_offset: int
    left_shift: int
    input1_multiplier: int
    input1_shift: int
    input2_multiplier: int
    input2_shift: int
    output_multiplier: int
    output_shift: int
    act_min: int
    act_max: int


def prepare(graph: Graph, op: Operator) -> AddParams:
    """TFLite's int8 ADD Prepare: both inputs are scaled to twice the larger input scale, in
    units 2^20 finer, summed, and scaled to the output."""
    a, b, y = (graph.tensor(i) for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
    twice_max = 2.0 * max(a.scale, b.scale)
    m1, s1 = quantize_multiplier(a.scale / twice_max)
    m2, s2 = quantize_multiplier(b.scale / twice_max)
    mo, so = quantize_multiplier(twice_max / ((1 << ADD_LEFT_SHIFT) * y.scale))
    act_min, act_max = activation_range(op.options.activation, y.scale, y.zero_point)
    return AddParams(-a.zero_point, -b.zero_point, y.zero_point, ADD_LEFT_SHIFT, m1, s1, m2, s2, mo, so,
                     act_min, act_max)


def add_s8(p: AddParams, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise a + b of two int8 tensors of the same shape, each with its own quantization."""
    shifted1 = (a.astype(np.int64) + p.input1_offset) * (1 << p.left_shift)
    shifted2 = (b.astype(np.int64) + p.input2_offset) * (1 << p.left_shift)
    scaled1 = multiply_by_quantized_multiplier(shifted1, p.input1_multiplier, p.input1_shift)
    scaled2 = multiply_by_quantized_multiplier(shifted2, p.input2_multiplier, p.input2_shift)
    total = multiply_by_quantized_multiplier(scaled1 + scaled2, p.output_multiplier, p.output_shift)
    return clamp(total + p.output_offset, p.act_min, p.act_max)


def forward(graph: Graph, op: Operator, inputs: Inputs) -> np.ndarray:
    return add_s8(prepare(graph, op), inputs[0], inputs[1])


def lower(lowering: LoweringContext, op: Operator) -> None:
    a, b, y = op.inputs[0], op.inputs[1], op.outputs[0]
    lowering.emit(OpCode.ADD, [lowering.activation(a), lowering.activation(b)], lowering.activation(y),
                  ADD_PARAMS.pack_from(prepare(lowering.graph, op)), 0)


OP = OpDef("ADD", read_options, validate, forward, lower, opcode=OpCode.ADD, params=ADD_PARAMS, prepare=prepare,
           in_place=True)
