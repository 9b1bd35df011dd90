"""Standalone RELU and RELU6: an activation TFLite could not fuse into the op before it (on the
model input, after a pooling layer, after an op that has its own activation). TFLite Micro's
kernels, bit for bit:
    RELU   rescales to the output's scale and zero point, then clamps below at the output's zero
           point (ReluQuantized, with CalculateReluOpData's multiplier of input / output scale);
    RELU6  clamps in the input's quantization to [zero point, quantized 6.0] and does not rescale
           (Relu6Quantized: the output is taken to share the input's quantization).
Both lower to the blob's ACTIVATION, a rescale then a clamp (RELU6's rescale is the identity);
element-wise, so it may run in place. Backward (RELU only, quantize/training/program.py), the error
passes to the input where the output is inside the clamp (the mask a fused activation uses)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quantize.blob_format import OpCode
from quantize.graph import Graph, Operator
from quantize.layout import Layout
from quantize.ops import checks
from quantize.ops.base import elementwise_op, no_options
from quantize.requant import (INT8_MAX, INT8_MIN, clamp, multiply_by_quantized_multiplier, quantize_multiplier,
                              round_half_away_from_zero)

ACTIVATION_PARAMS = Layout("kernels::ActivationParams",
                           ("input_zero_point", "i"), ("output_zero_point", "i"), ("multiplier", "i"), ("shift", "i"),
                           ("act.min", "i"), ("act.max", "i"))
# MultiplyByQuantizedMultiplier(x, 2^30, 1) == x for any x in the int8 range: RELU6's "no rescale".
IDENTITY_MULTIPLIER, IDENTITY_SHIFT = 1 << 30, 1


@dataclass(frozen=True)
class ActivationParams:
    input_zero_point: int
    output_zero_point: int
    multiplier: int
    shift: int
    act_min: int
    act_max: int


def validate(graph: Graph, op: Operator) -> None:
    checks.require_int8_activations(graph, op)


def prepare_relu(graph: Graph, op: Operator) -> ActivationParams:
    x, y = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    multiplier, shift = quantize_multiplier(x.scale / y.scale)  # double division, as TFLM
    return ActivationParams(x.zero_point, y.zero_point, multiplier, shift, max(INT8_MIN, y.zero_point), INT8_MAX)


def prepare_relu6(graph: Graph, op: Operator) -> ActivationParams:
    x = graph.tensor(op.inputs[0])
    # FloatToQuantizedType<int8_t>(6.0f, scale, zero_point): a float32 quotient, rounded half away
    six = round_half_away_from_zero(float(np.float32(6.0) / np.float32(x.scale))) + x.zero_point
    return ActivationParams(x.zero_point, x.zero_point, IDENTITY_MULTIPLIER, IDENTITY_SHIFT, x.zero_point,
                            min(INT8_MAX, max(INT8_MIN, six)))


def activation_s8(p: ActivationParams, x: np.ndarray) -> np.ndarray:
    scaled = multiply_by_quantized_multiplier(x.astype(np.int64) - p.input_zero_point, p.multiplier, p.shift)
    return clamp(scaled + p.output_zero_point, p.act_min, p.act_max)


RELU = elementwise_op("RELU", no_options, validate, prepare_relu, activation_s8, OpCode.ACTIVATION, ACTIVATION_PARAMS)
RELU6 = elementwise_op("RELU6", no_options, validate, prepare_relu6, activation_s8, OpCode.ACTIVATION,
                       ACTIVATION_PARAMS)
