"""LEAKY_RELU: TFLite Micro's int8 kernel, bit for bit (QuantizeLeakyRelu): x - input zero point
rescaled by input_scale / output_scale where it is >= 0 and by input_scale * alpha / output_scale
where it is below, plus the output zero point, clamped to int8. Both multipliers are float32
products as TFLite Micro's Prepare computes them, then QuantizeMultiplier. Element-wise, so it may
run in place. Backward: the error times 1 or alpha by the sign of the forward input (OpDef.derivative,
quantize/training/program.py)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quantize.blob_format import OpCode
from quantize.errors import UnsupportedModelError
from quantize.graph import Graph, Operator, Tensor
from quantize.layout import Layout
from quantize.ops import checks
from quantize.ops.base import elementwise_op, real_inputs
from quantize.requant import INT8_MAX, INT8_MIN, clamp, multiply_by_quantized_multiplier, quantize_multiplier

LEAKY_RELU_PARAMS = Layout("kernels::LeakyReluParams",
                           ("input_zero_point", "i"), ("output_zero_point", "i"),
                           ("identity_multiplier", "i"), ("identity_shift", "i"),
                           ("alpha_multiplier", "i"), ("alpha_shift", "i"))


@dataclass(frozen=True)
class LeakyReluOptions:
    alpha: float  # float32, as the flatbuffer holds it


@dataclass(frozen=True)
class LeakyReluParams:
    input_zero_point: int
    output_zero_point: int
    identity_multiplier: int
    identity_shift: int
    alpha_multiplier: int
    alpha_shift: int


def read_options(raw, inputs: tuple[int, ...], tensors: tuple[Tensor, ...]) -> LeakyReluOptions:
    if raw is None:
        raise UnsupportedModelError("no LeakyReluOptions (supported: an alpha)")
    return LeakyReluOptions(float(np.float32(raw.alpha)))


def validate(graph: Graph, op: Operator) -> None:
    checks.require_int8_activations(graph, op)


def prepare(graph: Graph, op: Operator) -> LeakyReluParams:
    x, y = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    sx, sy, alpha = np.float32(x.scale), np.float32(y.scale), np.float32(op.options.alpha)
    identity = quantize_multiplier(float(np.float32(sx / sy)))        # float32 quotient, as TFLM
    slope = quantize_multiplier(float(np.float32(np.float32(sx * alpha) / sy)))
    return LeakyReluParams(x.zero_point, y.zero_point, *identity, *slope)


def leaky_relu_s8(p: LeakyReluParams, x: np.ndarray) -> np.ndarray:
    v = x.astype(np.int64) - p.input_zero_point
    positive = multiply_by_quantized_multiplier(v, p.identity_multiplier, p.identity_shift)
    negative = multiply_by_quantized_multiplier(v, p.alpha_multiplier, p.alpha_shift)
    return clamp(np.where(v >= 0, positive, negative) + p.output_zero_point, INT8_MIN, INT8_MAX)


def derivative(graph: Graph, op: Operator) -> np.ndarray:
    """1 where the real input is positive, alpha where it is negative, and their mean at the input's
    zero point: the int8 zero stands for the real values within half a step of 0, of either sign
    (the float model's input there is as likely positive as negative)."""
    r, alpha = real_inputs(graph, op), float(op.options.alpha)
    return np.where(r > 0.0, 1.0, np.where(r < 0.0, alpha, (1.0 + alpha) / 2.0))


OP = elementwise_op("LEAKY_RELU", read_options, validate, prepare, leaky_relu_s8, OpCode.LEAKY_RELU,
                    LEAKY_RELU_PARAMS, derivative)
