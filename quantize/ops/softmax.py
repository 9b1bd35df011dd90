"""SOFTMAX over the last axis, int8 output of scale 1/256 and zero point -128: options, validation,
Prepare, parameter block, golden kernel (with gemmlowp's fixed point, gemmlowp.py) and lowering."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from quantize.blob_format import OpCode
from quantize.errors import UnsupportedModelError
from quantize.graph import Graph, Operator, Tensor
from quantize.layout import Layout
from quantize.ops import checks
from quantize.ops.base import Inputs, LoweringContext, OpDef, emit_single_input
from quantize.ops.gemmlowp import SOFTMAX_SUM_INTEGER_BITS, exp_on_negative_values, reciprocal
from quantize.requant import (
    INT8_MAX,
    INT8_MIN,
    SOFTMAX_INPUT_INTEGER_BITS,
    quantize_multiplier,
    rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
)

SOFTMAX_PARAMS = Layout("kernels::SoftmaxParams",
                        ("input_multiplier", "i"), ("input_left_shift", "i"), ("diff_min", "i"))
OUTPUT_SCALE, OUTPUT_ZERO_POINT = 1 / 256, -128


@dataclass(frozen=True)
class SoftmaxOptions:
    beta: float


def read_options(raw, inputs: tuple[int, ...], tensors: tuple[Tensor, ...]) -> SoftmaxOptions:
    return SoftmaxOptions(float(raw.beta))


def validate(graph: Graph, op: Operator) -> None:
    checks.require_int8_activations(graph, op)
    out = graph.tensor(op.outputs[0])
    if out.zero_point != OUTPUT_ZERO_POINT or abs(out.scale - OUTPUT_SCALE) > 1e-9:
        raise UnsupportedModelError(
            f"output quantization ({out.scale}, {out.zero_point}) (supported: scale 1/256, zero point -128)")


@dataclass(frozen=True)
class SoftmaxParams:
    input_multiplier: int
    input_left_shift: int
    diff_min: int


def prepare(graph: Graph, op: Operator) -> SoftmaxParams:
    return softmax_scaling(float(np.float32(op.options.beta)), graph.tensor(op.inputs[0]).scale)


def softmax_scaling(beta: float, input_scale: float) -> SoftmaxParams:
    """TFLite's PreprocessSoftmaxScaling (beta * input_scale as a Q5.26 multiplier greater than
    one) and CalculateInputRadius (differences below -radius give exp() = 0). The training step's
    loss uses it with beta 1 on the logits."""
    bits = SOFTMAX_INPUT_INTEGER_BITS
    real = min(beta * input_scale * (1 << (31 - bits)), (1 << 31) - 1.0)
    multiplier, left_shift = quantize_multiplier(real)
    radius = math.floor(((1 << bits) - 1) * (1 << (31 - bits)) / (1 << left_shift))
    return SoftmaxParams(multiplier, left_shift, -radius)


def softmax_s8(p: SoftmaxParams, x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis; int8 output with scale 1/256 and zero point -128."""
    rows = x.reshape(-1, x.shape[-1]).astype(np.int64)
    diff = rows - rows.max(axis=1, keepdims=True)
    in_range = diff >= p.diff_min
    rescaled = saturating_rounding_doubling_high_mul(diff * (1 << p.input_left_shift), p.input_multiplier)
    exps = exp_on_negative_values(rescaled)
    sum_of_exps = np.where(in_range, rounding_divide_by_pot(exps, SOFTMAX_SUM_INTEGER_BITS), 0).sum(axis=1)
    shifted_scale, num_bits_over_unit = reciprocal(sum_of_exps)
    unsaturated = rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted_scale[:, None], exps),
                                         (num_bits_over_unit + 31 - 8)[:, None])
    out = np.where(in_range, np.clip(unsaturated + INT8_MIN, INT8_MIN, INT8_MAX), INT8_MIN)
    return out.astype(np.int8).reshape(x.shape)


def forward(graph: Graph, op: Operator, inputs: Inputs) -> np.ndarray:
    return softmax_s8(prepare(graph, op), inputs[0])


def lower(lowering: LoweringContext, op: Operator) -> None:
    emit_single_input(lowering, op, OpCode.SOFTMAX, SOFTMAX_PARAMS.pack_from(prepare(lowering.graph, op)))


OP = OpDef("SOFTMAX", read_options, validate, forward, lower, opcode=OpCode.SOFTMAX, params=SOFTMAX_PARAMS,
           prepare=prepare)
