"""TANH: TFLite Micro's int8 kernel (reference_integer_ops Tanh), bit for bit: LOGISTIC's Prepare
(the input in Q4.27, the same radius), gemmlowp's fixed-point tanh into Q0.31, rounded to Q0.7
(output scale 1/128, zero point 0: the kernel's, checked as LOGISTIC's). Run as the blob's LUT op."""

from __future__ import annotations

import numpy as np

from quantize.graph import Graph, Operator
from quantize.ops import gemmlowp
from quantize.ops.logistic import INPUT_INTEGER_BITS, Q4InputParams, q4_input_params, saturating_q4
from quantize.ops.base import real_inputs
from quantize.ops.lut import lut_op, require_output_quantization
from quantize.requant import INT8_MAX, INT8_MIN, rounding_divide_by_pot

OUTPUT_SCALE, OUTPUT_ZERO_POINT = 1.0 / 128, 0


def tanh_s8(p: Q4InputParams, x: np.ndarray) -> np.ndarray:
    def kernel(q4: np.ndarray) -> np.ndarray:
        return np.clip(rounding_divide_by_pot(gemmlowp.tanh(q4, INPUT_INTEGER_BITS), 31 - 7), INT8_MIN, INT8_MAX)
    return saturating_q4(p, x, kernel)


def validate(graph: Graph, op: Operator) -> None:
    require_output_quantization(graph, op, OUTPUT_SCALE, OUTPUT_ZERO_POINT)


def derivative(graph: Graph, op: Operator) -> np.ndarray:
    return 1.0 - np.tanh(real_inputs(graph, op)) ** 2


OP = lut_op("TANH", validate, q4_input_params, tanh_s8, derivative)
