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


def prepare_rescaled(graph: Graph, op: Operator, float32_ratios: bool = False) -> AddParams:
    """TFLite's int8 ADD (and SUB) Prepare: both inputs are scaled to twice the larger input scale,
    in units 2^20 finer, combined, and scaled to the output. ADD divides the scales in double;
    SUB's Prepare divides them in float32 (`float32_ratios`) and only then widens to double."""
    a, b, y = (graph.tensor(i) for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
    if float32_ratios:
        twice_max = np.float32(2.0) * np.float32(max(a.scale, b.scale))
        r1, r2 = float(np.float32(a.scale) / twice_max), float(np.float32(b.scale) / twice_max)
        ro = float(twice_max / (np.float32(1 << ADD_LEFT_SHIFT) * np.float32(y.scale)))
    else:
        twice_max = 2.0 * max(a.scale, b.scale)
        r1, r2, ro = a.scale / twice_max, b.scale / twice_max, twice_max / ((1 << ADD_LEFT_SHIFT) * y.scale)
    m1, s1 = quantize_multiplier(r1)
    m2, s2 = quantize_multiplier(r2)
    mo, so = quantize_multiplier(ro)
    act_min, act_max = activation_range(op.options.activation, y.scale, y.zero_point)
    return AddParams(-a.zero_point, -b.zero_point, y.zero_point, ADD_LEFT_SHIFT, m1, s1, m2, s2, mo, so,
                     act_min, act_max)


def prepare(graph: Graph, op: Operator) -> AddParams:
    return prepare_rescaled(graph, op)


def rescaled_inputs(p: AddParams, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each input shifted left by left_shift and scaled to the common scale (int64 arrays)."""
    shifted1 = (a.astype(np.int64) + p.input1_offset) * (1 << p.left_shift)
    shifted2 = (b.astype(np.int64) + p.input2_offset) * (1 << p.left_shift)
    return (multiply_by_quantized_multiplier(shifted1, p.input1_multiplier, p.input1_shift),
            multiply_by_quantized_multiplier(shifted2, p.input2_multiplier, p.input2_shift))


def rescaled_output(p: AddParams, total: np.ndarray) -> np.ndarray:
    """The combined inputs scaled to the output, offset and clamped to the activation's range."""
    return clamp(multiply_by_quantized_multiplier(total, p.output_multiplier, p.output_shift) + p.output_offset,
                 p.act_min, p.act_max)


def add_s8(p: AddParams, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise a + b of two int8 tensors of the same shape, each with its own quantization."""
    scaled1, scaled2 = rescaled_inputs(p, a, b)
    return rescaled_output(p, scaled1 + scaled2)


def forward(graph: Graph, op: Operator, inputs: Inputs) -> np.ndarray:
    return add_s8(prepare(graph, op), inputs[0], inputs[1])


def lower(lowering: LoweringContext, op: Operator) -> None:
    a, b, y = op.inputs[0], op.inputs[1], op.outputs[0]
    lowering.emit(OpCode.ADD, [lowering.activation(a), lowering.activation(b)], lowering.activation(y),
                  ADD_PARAMS.pack_from(prepare(lowering.graph, op)), 0)


OP = OpDef("ADD", read_options, validate, forward, lower, opcode=OpCode.ADD, params=ADD_PARAMS, prepare=prepare,
           in_place=True)
