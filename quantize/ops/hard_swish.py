"""HARD_SWISH: TFLite Micro's int8 kernel (reference_ops HardSwish), bit for bit, in its 16-bit
fixed point: the input minus its zero point times 2^7 (the "hires" scale s_x / 128) is rescaled
to the output scale and, separately, to the "reluish" scale on which 3.0 is 32768, saturating;
the reluish value mapped from [-1, 1] to [0, 1] multiplies the rescaled input (a doubling high
multiply that truncates), which a rounding shift brings to the output scale. Both multipliers are
float32 quotients as TFLite Micro's Prepare computes them, quantized to 32 bits, then rounded to
16. Run as the blob's LUT op."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quantize.errors import UnsupportedModelError
from quantize.graph import Graph, Operator
from quantize.ops.base import real_inputs
from quantize.ops.lut import lut_op
from quantize.requant import INT8_MAX, INT8_MIN, quantize_multiplier

INT16_MIN, INT16_MAX = -(1 << 15), (1 << 15) - 1
INT16_ROUNDING = 1 << 15  # DownScaleInt32ToInt16Multiplier's kRoundingOffset


@dataclass(frozen=True)
class HardSwishParams:
    """TFLite's HardSwishParams for int8."""
    input_zero_point: int
    output_zero_point: int
    output_multiplier: int    # int16
    output_exponent: int      # <= 0
    reluish_multiplier: int   # int16
    reluish_exponent: int


def _int16_multiplier(real: float) -> tuple[int, int]:
    """QuantizeMultiplier, then DownScaleInt32ToInt16Multiplier (round the top 16 bits, saturating)."""
    multiplier, exponent = quantize_multiplier(real)
    if multiplier >= (1 << 31) - 1 - INT16_ROUNDING:
        return INT16_MAX, exponent
    return (multiplier + INT16_ROUNDING) >> 16, exponent


def prepare(graph: Graph, op: Operator) -> HardSwishParams:
    x, y = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    hires_input_scale = np.float32(1.0 / 128.0) * np.float32(x.scale)
    reluish_scale = np.float32(3.0) / np.float32(32768.0)
    output = _int16_multiplier(float(np.float32(hires_input_scale / np.float32(y.scale))))
    reluish = _int16_multiplier(float(np.float32(hires_input_scale / reluish_scale)))
    return HardSwishParams(x.zero_point, y.zero_point, *output, *reluish)


def validate(graph: Graph, op: Operator) -> None:
    exponent = prepare(graph, op).output_exponent
    if exponent > 0:  # TFLite Micro's Prepare refuses it too
        raise UnsupportedModelError(f"output multiplier exponent {exponent} (supported: <= 0, an output scale at "
                                    "least 1/128 of the input's)")


def _wrap16(v: np.ndarray) -> np.ndarray:
    return ((v + (1 << 15)) & 0xFFFF) - (1 << 15)


def _divide_toward_zero(v: np.ndarray, divisor: int) -> np.ndarray:
    return np.where(v >= 0, v // divisor, -((-v) // divisor))


def _rounding_doubling_high_mul16(a: np.ndarray, b: int) -> np.ndarray:
    """gemmlowp's int16 SaturatingRoundingDoublingHighMul."""
    ab = a * b
    high = _wrap16(_divide_toward_zero(ab + np.where(ab >= 0, 1 << 14, 1 - (1 << 14)), 1 << 15))
    return np.where((a == INT16_MIN) & (b == INT16_MIN), INT16_MAX, high)


def _doubling_high_mul16(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """TFLite's SaturatingDoublingHighMul: as above, truncating toward zero."""
    high = _wrap16(_divide_toward_zero(a * b, 1 << 15))
    return np.where((a == INT16_MIN) & (b == INT16_MIN), INT16_MAX, high)


def _saturating_left_shift16(v: np.ndarray, amount: int) -> np.ndarray:
    return np.clip(v * (1 << amount), INT16_MIN, INT16_MAX)


def _rounding_divide_by_pot16(x: np.ndarray, exponent: int) -> np.ndarray:
    """gemmlowp's RoundingDivideByPOT on int16 (its mask an int16: all ones from exponent 16 on)."""
    mask = int(_wrap16(np.int64((1 << exponent) - 1)))
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def hard_swish_s8(p: HardSwishParams, x: np.ndarray) -> np.ndarray:
    hires = (np.asarray(x, dtype=np.int64) - p.input_zero_point) * (1 << 7)
    preshift_output = _rounding_doubling_high_mul16(hires, p.output_multiplier)
    reluish = hires
    if p.reluish_exponent > 0:
        reluish = _saturating_left_shift16(reluish, p.reluish_exponent - 1)
    reluish = _rounding_doubling_high_mul16(reluish, p.reluish_multiplier)
    if p.reluish_exponent > 0:
        reluish = _saturating_left_shift16(reluish, 1)
    if p.reluish_exponent < 0:
        reluish = _rounding_divide_by_pot16(reluish, -p.reluish_exponent)
    reluish = (reluish + (1 << 15)) >> 1
    output = _rounding_divide_by_pot16(_doubling_high_mul16(reluish, preshift_output), -p.output_exponent)
    return np.clip(_wrap16(output + p.output_zero_point), INT8_MIN, INT8_MAX)


def derivative(graph: Graph, op: Operator) -> np.ndarray:
    """d/dr of r * relu6(r + 3) / 6: 0 up to -3, (2r + 3) / 6 inside, 1 from 3 on (TensorFlow's
    relu6 passes no gradient at its clamps)."""
    r = real_inputs(graph, op)
    return np.where(r <= -3.0, 0.0, np.where(r >= 3.0, 1.0, (2.0 * r + 3.0) / 6.0))


OP = lut_op("HARD_SWISH", validate, prepare, hard_swish_s8, derivative)
