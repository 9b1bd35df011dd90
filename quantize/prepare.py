"""TFLite Micro's Prepare step: each op's integer parameters, derived once from the parsed graph.

TFLite computes these when an op is prepared (per-channel multipliers and shifts, activation
clamps, explicit padding, ADD's rescaling, softmax's input scaling) and the kernels only read
them. Both consumers of a graph take them from here, so that they cannot drift apart: the golden
reference (quantize/golden.py) runs its kernels with them, and the lowering (quantize/lower.py)
writes them into the blob for the firmware's kernels. The arithmetic itself is requant.py's.
Functions are named after the op and called through the module: prepare.conv(graph, op).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from quantize.requant import (
    ADD_LEFT_SHIFT,
    SOFTMAX_INPUT_INTEGER_BITS,
    activation_range,
    mean_multiplier,
    quantize_multiplier,
    quantize_multipliers,
)
from quantize.tflite_model import Graph, Operator


def leading_padding(padding: str, in_size: int, filter_size: int, stride: int, out_size: int) -> int:
    """TFLite's ComputePaddingHeightWidth for one dimension: the padding before the first row
    (SAME puts the odd extra row after); 0 for VALID."""
    if padding != "SAME":
        return 0
    return max(((out_size - 1) * stride + filter_size - in_size) // 2, 0)


# -- CONV_2D and DEPTHWISE_CONV_2D ---------------------------------------------------------------

@dataclass(frozen=True)
class ConvParams:
    stride_h: int
    stride_w: int
    pad_top: int
    pad_left: int
    input_offset: int         # -input zero point
    output_offset: int        # output zero point
    multipliers: np.ndarray   # int64 [C_out]
    shifts: np.ndarray        # int64 [C_out]
    act_min: int
    act_max: int


def conv(graph: Graph, op: Operator) -> ConvParams:
    """TFLite's PopulateConvolutionQuantizationParams: for each output channel c the multiplier of
    input_scale * filter_scale[c] / output_scale, in double precision."""
    x, w, y = (graph.tensor(i) for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
    opts = op.options
    c_out = y.shape[3]
    filter_scales = w.quantization.scales.astype(np.float64)
    if len(filter_scales) == 1:
        filter_scales = np.repeat(filter_scales, c_out)
    multipliers, shifts = quantize_multipliers(np.float64(x.scale) * filter_scales / np.float64(y.scale))
    kh, kw = w.shape[1], w.shape[2]
    act_min, act_max = activation_range(opts.activation, y.scale, y.zero_point)
    return ConvParams(
        opts.stride_h, opts.stride_w,
        leading_padding(opts.padding, x.shape[1], kh, opts.stride_h, y.shape[1]),
        leading_padding(opts.padding, x.shape[2], kw, opts.stride_w, y.shape[2]),
        -x.zero_point, y.zero_point, multipliers, shifts, act_min, act_max)


# -- FULLY_CONNECTED ------------------------------------------------------------------------------

@dataclass(frozen=True)
class FullyConnectedParams:
    input_offset: int
    filter_offset: int
    output_offset: int
    multipliers: np.ndarray   # int64 [units] (all equal for per-tensor weights)
    shifts: np.ndarray
    act_min: int
    act_max: int


def fully_connected(graph: Graph, op: Operator) -> FullyConnectedParams:
    """Per-tensor weights: TFLite's GetQuantizedConvolutionMultipler multiplies the two scales in
    float32 before dividing in double. Per-channel weights: as convolutions, in double."""
    x, w, y = (graph.tensor(i) for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
    units = w.shape[0]
    if w.quantization.per_channel:
        reals = np.float64(x.scale) * w.quantization.scales.astype(np.float64) / np.float64(y.scale)
    else:
        product = float(np.float32(x.scale) * np.float32(w.scale))
        reals = np.full(units, product / float(y.scale))
    multipliers, shifts = quantize_multipliers(reals)
    act_min, act_max = activation_range(op.options.activation, y.scale, y.zero_point)
    return FullyConnectedParams(-x.zero_point, -w.zero_point, y.zero_point, multipliers, shifts, act_min, act_max)


# -- ADD ------------------------------------------------------------------------------------------

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


def add(graph: Graph, op: Operator) -> AddParams:
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


# -- AVERAGE_POOL_2D and MAX_POOL_2D ------------------------------------------------------------

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


def pool(graph: Graph, op: Operator) -> PoolParams:
    x, y = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    o = op.options
    act_min, act_max = activation_range(o.activation, y.scale, y.zero_point)
    return PoolParams(o.stride_h, o.stride_w, o.filter_h, o.filter_w,
                      leading_padding(o.padding, x.shape[1], o.filter_h, o.stride_h, y.shape[1]),
                      leading_padding(o.padding, x.shape[2], o.filter_w, o.stride_w, y.shape[2]),
                      act_min, act_max)


# -- MEAN over H and W, QUANTIZE (int8 -> int8) ----------------------------------------------------

@dataclass(frozen=True)
class RescaleParams:
    """A change of scale and zero point: int8 QUANTIZE's, and MEAN's (whose multiplier also
    divides the sum by the count)."""

    input_zero_point: int
    output_zero_point: int
    multiplier: int   # of input_scale / output_scale (MEAN: / count)
    shift: int


def mean(graph: Graph, op: Operator) -> RescaleParams:
    x, y = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    return RescaleParams(x.zero_point, y.zero_point, *mean_multiplier(x.scale / y.scale, x.shape[1] * x.shape[2]))


def requantize(graph: Graph, op: Operator) -> RescaleParams:
    x, y = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    return RescaleParams(x.zero_point, y.zero_point, *quantize_multiplier(x.scale / y.scale))


# -- SOFTMAX --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SoftmaxParams:
    input_multiplier: int
    input_left_shift: int
    diff_min: int


def softmax(graph: Graph, op: Operator) -> SoftmaxParams:
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
