"""The golden reference of the int8 forward pass: numpy, bit-exact with TFLite Micro.

Each op is two plain steps, as in TFLite Micro and in the firmware's kernels:
- `prepare.<op>(graph, op)` (quantize/prepare.py) derives the op's integer parameters once
  (per-channel multipliers and shifts, activation clamps, explicit padding) with TFLite's Prepare
  arithmetic; the lowering writes the same parameters into the firmware's blob;
- `<op>_s8(params, ...)` here is the reference maths on int8 arrays, computed in int64 so that
  nothing overflows before the requantization (quantize/requant.py).
`run_forward` executes a parsed graph (quantize/tflite_model.py) on one int8 input and returns the
value of every tensor. Layouts are TFLite's: activations [N, H, W, C], conv filters
[C_out, KH, KW, C_in], depthwise filters [1, KH, KW, C], fully-connected weights [units, depth].
"""

from __future__ import annotations

import numpy as np

from quantize import prepare
from quantize.requant import (
    INT8_MAX,
    INT8_MIN,
    INT32_MAX,
    SOFTMAX_INPUT_INTEGER_BITS,
    multiply_by_quantized_multiplier,
    rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
    saturating_rounding_multiply_by_pot,
)
from quantize.tflite_model import Graph, Operator

SOFTMAX_SUM_INTEGER_BITS = 12    # kAccumulationIntegerBits: the sum of exps is Q12.19


# -- window arithmetic shared by several kernels -------------------------------------------------

def clamp(values: np.ndarray, low: int, high: int) -> np.ndarray:
    return np.clip(values, low, high).astype(np.int8)


def windows(x: np.ndarray, kh: int, kw: int, stride_h: int, stride_w: int, pad_top: int, pad_left: int,
            out_h: int, out_w: int, fill: int) -> np.ndarray:
    """Every (kh, kw) input window of every output position: [N, out_h, out_w, C, kh, kw].
    Positions outside the input read `fill` (the reference kernels skip them; each op picks the
    value that makes skipping and reading agree)."""
    n, h, w, c = x.shape
    bottom = max((out_h - 1) * stride_h + kh - h - pad_top, 0)
    right = max((out_w - 1) * stride_w + kw - w - pad_left, 0)
    padded = np.pad(x, ((0, 0), (pad_top, bottom), (pad_left, right), (0, 0)), constant_values=fill)
    view = np.lib.stride_tricks.sliding_window_view(padded, (kh, kw), axis=(1, 2))
    return view[:, ::stride_h, ::stride_w][:, :out_h, :out_w]


# -- CONV_2D and DEPTHWISE_CONV_2D ---------------------------------------------------------------

def requantize_accumulators(p: prepare.ConvParams, acc: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """acc [..., C] int64 -> int8: add the bias, rescale per channel, add the output zero point, clamp."""
    if bias is not None:
        acc = acc + bias.astype(np.int64).reshape(-1)
    scaled = multiply_by_quantized_multiplier(acc, p.multipliers, p.shifts)
    return clamp(scaled + p.output_offset, p.act_min, p.act_max)


def conv2d_s8(p: prepare.ConvParams, x: np.ndarray, filters: np.ndarray, bias: np.ndarray | None,
              out_hw: tuple[int, int]) -> np.ndarray:
    """x [N, H, W, C_in] int8, filters [C_out, KH, KW, C_in] int8, bias [C_out] int32 or None ->
    [N, out_h, out_w, C_out] int8. acc = sum over the window of filter * (x + input_offset); taps
    outside the input are skipped (read here as x + input_offset = 0)."""
    _, kh, kw, _ = filters.shape
    shifted = x.astype(np.int64) + p.input_offset
    win = windows(shifted, kh, kw, p.stride_h, p.stride_w, p.pad_top, p.pad_left, *out_hw, fill=0)
    acc = np.einsum("nhwcij,oijc->nhwo", win, filters.astype(np.int64))
    return requantize_accumulators(p, acc, bias)


def depthwise_conv2d_s8(p: prepare.ConvParams, x: np.ndarray, filters: np.ndarray, bias: np.ndarray | None,
                        out_hw: tuple[int, int]) -> np.ndarray:
    """x [N, H, W, C] int8, filters [1, KH, KW, C] int8 (depth multiplier 1), bias [C] or None ->
    [N, out_h, out_w, C] int8. Each channel is convolved with its own filter."""
    _, kh, kw, _ = filters.shape
    shifted = x.astype(np.int64) + p.input_offset
    win = windows(shifted, kh, kw, p.stride_h, p.stride_w, p.pad_top, p.pad_left, *out_hw, fill=0)
    acc = np.einsum("nhwcij,ijc->nhwc", win, filters[0].astype(np.int64))
    return requantize_accumulators(p, acc, bias)


# -- FULLY_CONNECTED ------------------------------------------------------------------------------

def fully_connected_s8(p: prepare.FullyConnectedParams, x: np.ndarray, weights: np.ndarray,
                       bias: np.ndarray | None) -> np.ndarray:
    """x [..., depth] int8 (read as [batches, depth]), weights [units, depth] int8, bias [units]
    or None -> [batches, units] int8."""
    units, depth = weights.shape
    rows = x.reshape(-1, depth).astype(np.int64) + p.input_offset
    acc = rows @ (weights.astype(np.int64) + p.filter_offset).T
    if bias is not None:
        acc = acc + bias.astype(np.int64)
    scaled = multiply_by_quantized_multiplier(acc, p.multipliers, p.shifts)
    return clamp(scaled + p.output_offset, p.act_min, p.act_max)


# -- ADD ------------------------------------------------------------------------------------------

def add_s8(p: prepare.AddParams, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise a + b of two int8 tensors of the same shape, each with its own quantization."""
    shifted1 = (a.astype(np.int64) + p.input1_offset) * (1 << p.left_shift)
    shifted2 = (b.astype(np.int64) + p.input2_offset) * (1 << p.left_shift)
    scaled1 = multiply_by_quantized_multiplier(shifted1, p.input1_multiplier, p.input1_shift)
    scaled2 = multiply_by_quantized_multiplier(shifted2, p.input2_multiplier, p.input2_shift)
    total = multiply_by_quantized_multiplier(scaled1 + scaled2, p.output_multiplier, p.output_shift)
    return clamp(total + p.output_offset, p.act_min, p.act_max)


# -- AVERAGE_POOL_2D and MAX_POOL_2D ------------------------------------------------------------

def _pool_windows(p: prepare.PoolParams, x: np.ndarray, out_hw: tuple[int, int], fill: int) -> np.ndarray:
    return windows(x, p.filter_h, p.filter_w, p.stride_h, p.stride_w, p.pad_top, p.pad_left, *out_hw, fill=fill)


def average_pool_s8(p: prepare.PoolParams, x: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
    """Mean of the window's in-bounds elements (padding is not counted), rounded half away from
    zero with C's truncating division: (sum +- count/2) / count."""
    total = _pool_windows(p, x.astype(np.int64), out_hw, fill=0).sum(axis=(-2, -1))
    ones = np.ones((1, *x.shape[1:3], 1), dtype=np.int64)
    count = _pool_windows(p, ones, out_hw, fill=0).sum(axis=(-2, -1))
    half = count // 2
    rounded = np.where(total > 0, (total + half) // count, -((half - total) // count))
    return clamp(rounded, p.act_min, p.act_max)


def max_pool_s8(p: prepare.PoolParams, x: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
    """Maximum of the window's in-bounds elements (padding reads as -128, the reference's start)."""
    best = _pool_windows(p, x, out_hw, fill=INT8_MIN).max(axis=(-2, -1))
    return clamp(best, p.act_min, p.act_max)


# -- MEAN over H and W --------------------------------------------------------------------------

def mean_hw_s8(p: prepare.RescaleParams, x: np.ndarray) -> np.ndarray:
    """x [N, H, W, C] -> [N, C]: (sum - count * input_zero_point) rescaled, plus the output zero point."""
    count = x.shape[1] * x.shape[2]
    total = x.astype(np.int64).sum(axis=(1, 2)) - count * p.input_zero_point
    scaled = multiply_by_quantized_multiplier(total, p.multiplier, p.shift)
    return clamp(scaled + p.output_zero_point, INT8_MIN, INT8_MAX)


# -- PAD, RESHAPE, QUANTIZE (int8 -> int8), DEQUANTIZE ------------------------------------------

def pad_s8(x: np.ndarray, paddings: tuple[tuple[int, int], ...], pad_value: int) -> np.ndarray:
    """Constant padding with the zero point (the quantized 0.0)."""
    return np.pad(x, paddings, constant_values=pad_value).astype(np.int8)


def reshape_s8(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return x.reshape(shape).copy()


def requantize_s8(p: prepare.RescaleParams, x: np.ndarray) -> np.ndarray:
    """TFLite's QUANTIZE from int8 to int8: a change of scale and zero point."""
    scaled = multiply_by_quantized_multiplier(x.astype(np.int64) - p.input_zero_point, p.multiplier, p.shift)
    return clamp(scaled + p.output_zero_point, INT8_MIN, INT8_MAX)


def dequantize_s8(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """TFLite's DEQUANTIZE: scale * (x - zero_point) in float32."""
    return (np.float32(scale) * (x.astype(np.int32) - zero_point).astype(np.float32)).astype(np.float32)


# -- SOFTMAX --------------------------------------------------------------------------------------

def _mul(a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    """Fixed-point product (gemmlowp): the integer bits of the operands add."""
    return saturating_rounding_doubling_high_mul(a, b)


def exp_on_interval_between_negative_one_quarter_and_0_excl(a: np.ndarray) -> np.ndarray:
    """exp(a) for a in [-1/4, 0), Q0.31 in and out: Taylor expansion around -1/8."""
    constant_term = 1895147668          # exp(-1/8) in Q0.31
    constant_one_over_three = 715827883
    x = a + (1 << 28)                   # a + 1/8
    x2 = _mul(x, x)
    x3 = _mul(x2, x)
    x4 = _mul(x2, x2)
    x4_over_4 = saturating_rounding_multiply_by_pot(x4, -2)
    poly = saturating_rounding_multiply_by_pot(_mul(x4_over_4 + x3, constant_one_over_three) + x2, -1)
    return constant_term + _mul(constant_term, x + poly)


# exp(-2^k) in Q0.31 for k = -2 .. 4: one factor for each bit of the integer/quarter part.
_EXP_OF_MINUS_POWERS_OF_TWO = (1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242)


def exp_on_negative_values(a: np.ndarray) -> np.ndarray:
    """exp(a) for a <= 0 in Q5.26 -> Q0.31 (gemmlowp's exp_on_negative_values)."""
    fractional_bits = 31 - SOFTMAX_INPUT_INTEGER_BITS
    one_quarter = 1 << (fractional_bits - 2)
    a = np.asarray(a, dtype=np.int64)
    a_mod_quarter_minus_one_quarter = (a & (one_quarter - 1)) - one_quarter
    result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        saturating_rounding_multiply_by_pot(a_mod_quarter_minus_one_quarter, SOFTMAX_INPUT_INTEGER_BITS))
    remainder = a_mod_quarter_minus_one_quarter - a
    for k, factor in zip(range(-2, 5), _EXP_OF_MINUS_POWERS_OF_TWO):
        bit_set = (remainder & (1 << (fractional_bits + k))) != 0
        result = np.where(bit_set, _mul(result, factor), result)
    return np.where(a == 0, INT32_MAX, result)


def one_over_one_plus_x_for_x_in_0_1(a: np.ndarray) -> np.ndarray:
    """1 / (1 + a) for a in [0, 1), Q0.31 in and out: Newton-Raphson, three iterations, in Q2.29."""
    total = np.asarray(a, dtype=np.int64) + INT32_MAX
    nudged = total + np.where(total >= 0, 1, -1)
    half_denominator = np.where(nudged >= 0, nudged // 2, -((-nudged) // 2))  # RoundingHalfSum, truncating
    constant_48_over_17 = 1515870810
    constant_neg_32_over_17 = -1010580540
    one_q2 = 1 << 29
    x = constant_48_over_17 + _mul(half_denominator, constant_neg_32_over_17)
    for _ in range(3):
        one_minus_half_denominator_times_x = one_q2 - _mul(half_denominator, x)
        x = x + saturating_rounding_multiply_by_pot(_mul(x, one_minus_half_denominator_times_x), 2)
    return saturating_rounding_multiply_by_pot(x, 1)


def reciprocal(sum_of_exps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """1 / x for x in Q12.19 (x > 0): (Q0.31 value, num_bits_over_unit), TFLite's GetReciprocal."""
    s = np.asarray(sum_of_exps, dtype=np.int64)
    headroom_plus_one = 32 - np.array([int(v).bit_length() for v in s.ravel()], dtype=np.int64).reshape(s.shape)
    num_bits_over_unit = SOFTMAX_SUM_INTEGER_BITS - headroom_plus_one
    shifted_sum_minus_one = (s << headroom_plus_one) - (1 << 31)
    return one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one), num_bits_over_unit


def softmax_s8(p: prepare.SoftmaxParams, x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis; int8 output with scale 1/256 and zero point -128."""
    rows = x.reshape(-1, x.shape[-1]).astype(np.int64)
    diff = rows - rows.max(axis=1, keepdims=True)
    in_range = diff >= p.diff_min
    rescaled = saturating_rounding_doubling_high_mul(diff * (1 << p.input_left_shift), p.input_multiplier)
    exps = exp_on_negative_values(rescaled)
    sum_of_exps = np.where(in_range, rounding_divide_by_pot(exps, SOFTMAX_SUM_INTEGER_BITS), 0).sum(axis=1)
    shifted_scale, num_bits_over_unit = reciprocal(sum_of_exps)
    unsaturated = rounding_divide_by_pot(_mul(shifted_scale[:, None], exps), (num_bits_over_unit + 31 - 8)[:, None])
    out = np.where(in_range, np.clip(unsaturated + INT8_MIN, INT8_MIN, INT8_MAX), INT8_MIN)
    return out.astype(np.int8).reshape(x.shape)


# -- running a graph ---------------------------------------------------------------------------

def run_op(graph: Graph, op: Operator, values: dict[int, np.ndarray]) -> np.ndarray:
    """The output of one op, reading its inputs from `values` (tensor index -> array)."""
    y = graph.tensor(op.outputs[0])

    def arg(position: int) -> np.ndarray | None:
        if position >= len(op.inputs) or op.inputs[position] < 0:
            return None
        return values[op.inputs[position]]

    name = op.op
    if name == "CONV_2D":
        return conv2d_s8(prepare.conv(graph, op), arg(0), arg(1), arg(2), y.shape[1:3])
    if name == "DEPTHWISE_CONV_2D":
        return depthwise_conv2d_s8(prepare.conv(graph, op), arg(0), arg(1), arg(2), y.shape[1:3])
    if name == "FULLY_CONNECTED":
        return fully_connected_s8(prepare.fully_connected(graph, op), arg(0), arg(1), arg(2)).reshape(y.shape)
    if name == "ADD":
        return add_s8(prepare.add(graph, op), arg(0), arg(1))
    if name == "AVERAGE_POOL_2D":
        return average_pool_s8(prepare.pool(graph, op), arg(0), y.shape[1:3])
    if name == "MAX_POOL_2D":
        return max_pool_s8(prepare.pool(graph, op), arg(0), y.shape[1:3])
    if name == "MEAN":
        return mean_hw_s8(prepare.mean(graph, op), arg(0)).reshape(y.shape)
    if name == "RESHAPE":
        return reshape_s8(arg(0), y.shape)
    if name == "PAD":
        return pad_s8(arg(0), op.options.paddings, y.zero_point)
    if name == "SOFTMAX":
        return softmax_s8(prepare.softmax(graph, op), arg(0))
    if name == "QUANTIZE":
        return requantize_s8(prepare.requantize(graph, op), arg(0))
    if name == "DEQUANTIZE":
        x = graph.tensor(op.inputs[0])
        return dequantize_s8(arg(0), x.scale, x.zero_point)
    raise AssertionError(f"{name} passed validation but has no reference kernel")


def run_forward(graph: Graph, x: np.ndarray, constants: dict[int, np.ndarray] | None = None) -> dict[int, np.ndarray]:
    """Every tensor's value (tensor index -> array) after one forward pass on int8 input `x`.

    x: the int8 model input, shaped like graph.int8_input with or without its batch dimension of
    1 (for a float model, the already-quantized input: the float QUANTIZE of the input is left to
    the caller). Constants are included as stored, except those `constants` replaces (the
    parameters a training step has updated).
    """
    values: dict[int, np.ndarray] = {t.index: t.data for t in graph.tensors if t.data is not None}
    values.update(constants or {})
    entry = graph.tensor(graph.int8_input)
    x = np.asarray(x)
    if x.dtype != np.int8 or x.size != int(np.prod(entry.shape)):
        raise ValueError(f"input of type {x.dtype} and shape {x.shape}; the model takes int8 {entry.shape}")
    values[entry.index] = x.reshape(entry.shape)
    for op in graph.operators:
        if op.op == "QUANTIZE" and op.outputs[0] == entry.index:
            continue
        values[op.outputs[0]] = run_op(graph, op, values)
    return values


def run_output(graph: Graph, x: np.ndarray) -> np.ndarray:
    """The int8 model output for int8 input `x` (see run_forward)."""
    return run_forward(graph, x)[graph.int8_output]
