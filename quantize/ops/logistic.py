"""LOGISTIC (and the Prepare TANH shares): TFLite Micro's int8 kernel (reference_integer_ops
Logistic), bit for bit. The input minus its zero point is rescaled into Q4.27 by a multiplier and
left shift from frexp(s_x * 2^27); inputs at or beyond the radius of 15.0 saturate; gemmlowp's
fixed-point logistic gives Q0.31, rounded to Q0.8 and offset by the output zero point -128 (the
output scale 1/256 is the kernel's, which TFLite Micro does not read: quantize/ops/lut.py checks
the converter gave it). Run as the blob's LUT op."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from quantize.graph import Graph, Operator
from quantize.ops import gemmlowp
from quantize.ops.base import real_inputs
from quantize.ops.lut import lut_op, require_output_quantization
from quantize.requant import (INT8_MAX, INT8_MIN, multiply_by_quantized_multiplier, round_half_away_from_zero,
                              rounding_divide_by_pot)

INPUT_INTEGER_BITS = 4  # Q4.27: kInputIntegerBits of LOGISTIC and TANH
OUTPUT_SCALE, OUTPUT_ZERO_POINT = 1.0 / 256, -128


@dataclass(frozen=True)
class Q4InputParams:
    """TFLite Micro's OpDataLogistic (TANH's OpData) for int8."""
    input_zero_point: int
    input_range_radius: int
    input_multiplier: int
    input_left_shift: int


def q4_input_params(graph: Graph, op: Operator) -> Q4InputParams:
    """CalculateArithmeticOpDataLogistic / Tanh's: frexp of s_x * 2^27 in double, the fraction
    rounded half away from zero into Q0.31, and CalculateInputRadius(4, shift, 31)."""
    x = graph.tensor(op.inputs[0])
    fraction, shift = math.frexp(float(x.scale) * (1 << (31 - INPUT_INTEGER_BITS)))
    multiplier = round_half_away_from_zero(fraction * (1 << 31))
    radius = math.floor(((1 << INPUT_INTEGER_BITS) - 1) * float(1 << (31 - INPUT_INTEGER_BITS)) / 2.0 ** shift)
    return Q4InputParams(x.zero_point, radius, multiplier, shift)


def saturating_q4(p: Q4InputParams, x: np.ndarray, kernel) -> np.ndarray:
    """kernel(input in Q4.27) where the input is inside the radius, the int8 limits beyond it."""
    v = np.asarray(x, dtype=np.int64) - p.input_zero_point
    inside = np.abs(v) < p.input_range_radius
    q4 = multiply_by_quantized_multiplier(np.where(inside, v, 0), p.input_multiplier, p.input_left_shift)
    return np.where(inside, kernel(q4), np.where(v > 0, INT8_MAX, INT8_MIN))


def logistic_s8(p: Q4InputParams, x: np.ndarray) -> np.ndarray:
    def kernel(q4: np.ndarray) -> np.ndarray:
        q8 = rounding_divide_by_pot(gemmlowp.logistic(q4, INPUT_INTEGER_BITS), 31 - 8)
        return np.clip(q8 + OUTPUT_ZERO_POINT, INT8_MIN, INT8_MAX)
    return saturating_q4(p, x, kernel)


def validate(graph: Graph, op: Operator) -> None:
    require_output_quantization(graph, op, OUTPUT_SCALE, OUTPUT_ZERO_POINT)


def derivative(graph: Graph, op: Operator) -> np.ndarray:
    s = 1.0 / (1.0 + np.exp(-real_inputs(graph, op)))
    return s * (1.0 - s)


OP = lut_op("LOGISTIC", validate, q4_input_params, logistic_s8, derivative)
