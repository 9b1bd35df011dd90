// The last step of the conv-like kernels: a per-output-channel int32 accumulator to int8, bit-exact
// with requantize.h (TFLite's MultiplyByQuantizedMultiplier, then + output offset, then clamp).
//
// The tiled kernels accumulate 2 * acc (the inputs they expand are doubled, which costs nothing
// there) and use an equivalent form that needs one SMMLAR, one shift and one SSAT:
//
//   reference:  h = (acc * M + 2^30) >> 31                     (doubling high multiply, M > 0)
//               r = (h + 2^(e-1) - [h < 0]) >> e               (rounding shift, ties away from 0)
//   here:       r = SMMLAR(2 * acc, M, R - [acc < 0]) >> e,     R = 2^(e-1) + output_offset * 2^e
//
// SMMLAR computes (R' * 2^32 + 2acc * M + 2^31) >> 32; shifting that by e is one floor division of
// 2 * (acc * M + 2^30 + 2^(30+e) - [acc < 0] 2^31 + offset 2^(31+e)) by 2^(32+e), which is the two
// reference roundings in one (nested floors), with the output offset folded in. [acc < 0] stands
// for [h < 0]: they differ only when h == 0, where both give r == 0. Exact for e = -shift in
// [1, kMaxFastShift] and |acc| < 2^30 (so 2 * acc fits); checked against requantize.h on 2e8 random
// (acc, M, e, offset) including every rounding tie. Outside that range the reference path is used.
//
// When the activation's lower bound is at or above the output offset (ReLU-like), every negative
// accumulator clamps to the lower bound whichever way its tie rounds, so the [acc < 0] term is
// dropped (OutputStage::kFastRelu).
//
// A kFastRelu layer whose weights come scaled (a packed filter, conv2d_s8.h) can shift every
// channel by one layer-wide E = max(e) + 1, which an SSAT applies as its immediate: with
// d = E - e >= 1 per channel, an accumulator scaled by 2^(1+d) instead of 2, and
//   r = SMMLA(2^(1+d) * acc, M, R_d) >> E,   R_d = (2 * offset + 1) * 2^(E-1) + 2^(d-1),
// SMMLA (no rounding) computes floor((R_d * 2^32 + 2^(1+d) acc M) / 2^32), and the shift by E
// makes it floor(2^d * (R * 2^32 + 2 acc M + 2^31) / 2^(32+E)) with R = 2^(e-1) + offset 2^e:
// the kFastRelu numerator times 2^d over its denominator times 2^d, the same value
// (OutputPath::kScaledRelu). The scaled accumulator must stay below 2^31 (scaled_relu_fits).
#pragma once

#include <cstdint>

#include "dsp.h"
#include "kernel_types.h"
#include "requantize.h"

namespace kernels {

constexpr int32_t kMaxFastShift = 20;
/// Accumulators of the tiled kernels stay below 2^30 when |bias| <= kMaxFastBias and the dot
/// product is shorter than kMaxFastDepth (255 * 128 * 16384 < 2^29).
constexpr int32_t kMaxFastBias = int32_t{1} << 29;
constexpr int32_t kMaxFastDepth = 16384;

/// One output channel's constants, computed when the channel's accumulators are ready.
struct ChannelScale {
  int32_t multiplier;
  int32_t shift;     ///< fast paths: e = -shift in [1, 20]; reference path: the TFLite shift
  int32_t rounding;  ///< fast paths: 2^(e-1) + output_offset * 2^e
};

/// Which requantization a whole layer can use; chosen once per call by choose_output_stage().
enum class OutputPath : uint8_t {
  kFastRelu,   ///< fast form, negatives clamp anyway, output range [-128, 127]
  kFast,       ///< fast form with the sign term, output range [-128, 127]
  kReference,  ///< requantize.h, any activation range
  kScaledRelu  ///< kFastRelu with scaled accumulators and one shift for the layer (see the top)
};

struct OutputStage {
  PerChannelQuant quant;
  int32_t output_offset;
  ActivationRange act;
  int32_t layer_shift = 0;  ///< kScaledRelu's E (scaled_relu_shift)

  ChannelScale channel(int32_t c, OutputPath path) const {
    const int32_t shift = quant.shift[c];
    if (path == OutputPath::kReference) return {quant.multiplier[c], shift, 0};
    if (path == OutputPath::kScaledRelu) {
      const int32_t d = layer_shift + shift;
      return {quant.multiplier[c], layer_shift,
              (2 * output_offset + 1) * (int32_t{1} << (layer_shift - 1)) + (int32_t{1} << (d - 1))};
    }
    const int32_t e = -shift;
    return {quant.multiplier[c], e, (int32_t{1} << (e - 1)) + output_offset * (int32_t{1} << e)};
  }

  /// Channel c's first accumulator value, bias included (2 * bias; kScaledRelu: 2^(1+d) * bias).
  int32_t start(int32_t c, const int32_t* bias, OutputPath path) const {
    if (bias == nullptr) return 0;
    return path == OutputPath::kScaledRelu ? bias[c] * (int32_t{1} << (1 + layer_shift + quant.shift[c])) : 2 * bias[c];
  }

  /// int8 output from a doubled accumulator (2 * acc, bias included).
  template <OutputPath kPath>
  int8_t apply(const ChannelScale& s, int32_t acc2) const {
    if (kPath == OutputPath::kReference) {
      const int32_t v = multiply_by_quantized_multiplier(acc2 / 2, s.multiplier, s.shift) + output_offset;
      return clamp_to_int8(v, act.min, act.max);
    }
    return fast_output<kPath>(s, acc2);
  }

  /// The fast paths' form alone (kFast, kFastRelu or kScaledRelu); the device loops of conv_pair_pass.cpp,
  /// conv2d_one_channel.cpp and depthwise_pairs.cpp compute it instruction for instruction.
  template <OutputPath kPath>
  static int8_t fast_output(const ChannelScale& s, int32_t acc2) {
    if (kPath == OutputPath::kScaledRelu)  // acc2: the scaled accumulator
      return static_cast<int8_t>(dsp::ssat8(dsp::smmla(acc2, s.multiplier, s.rounding) >> s.shift));
    const int32_t sign = kPath == OutputPath::kFast ? (acc2 >> 31) : 0;  // -1 for negative accumulators
    return static_cast<int8_t>(dsp::ssat8(dsp::smmlar(acc2, s.multiplier, s.rounding + sign) >> s.shift));
  }
};

/// True when every accumulator of a dot product of `depth` int8 pairs (inputs offset, so up to
/// 255 * 128 each) plus these biases stays below 2^30 in magnitude, so the tiled kernels may
/// accumulate it doubled. Otherwise they fall back to their reference loops.
inline bool doubled_accumulator_fits(const int32_t* bias, int32_t channels, int32_t depth) {
  if (depth >= kMaxFastDepth) return false;
  for (int32_t c = 0; bias != nullptr && c < channels; ++c)
    if (bias[c] > kMaxFastBias || bias[c] < -kMaxFastBias) return false;
  return true;
}

/// kScaledRelu's layer shift E: the largest e = -shift of the channels, plus one.
inline int32_t scaled_relu_shift(const PerChannelQuant& quant, int32_t channels) {
  int32_t e_max = 0;
  for (int32_t c = 0; c < channels; ++c) e_max = -quant.shift[c] > e_max ? -quant.shift[c] : e_max;
  return e_max + 1;
}

/// The most a channel's weights may be scaled: 2^(1+d) * int8 must fit an int16 lane.
constexpr int32_t kMaxScaledReluD = 7;

/// Whether a kFastRelu layer may run kScaledRelu: every channel's d at most kMaxScaledReluD and
/// its scaled accumulators, |2^(1+d) (depth * 255 * 128 + bias)|, below 2^31.
inline bool scaled_relu_fits(const PerChannelQuant& quant, const int32_t* bias, int32_t channels, int32_t depth) {
  const int32_t e_layer = scaled_relu_shift(quant, channels);
  for (int32_t c = 0; c < channels; ++c) {
    const int32_t d = e_layer + quant.shift[c];
    const int64_t b = bias != nullptr ? bias[c] : 0;
    const int64_t bound = int64_t{depth} * 255 * 128 + (b < 0 ? -b : b);
    if (d > kMaxScaledReluD || (bound << (1 + d)) >= (int64_t{1} << 31)) return false;
  }
  return true;
}

/// The fastest exact requantization for these channels.
inline OutputPath choose_output_path(const OutputStage& stage, int32_t channels) {
  if (stage.act.min > -128 || stage.act.max < 127) return OutputPath::kReference;
  for (int32_t c = 0; c < channels; ++c) {
    const int32_t shift = stage.quant.shift[c];
    if (shift > -1 || shift < -kMaxFastShift || stage.quant.multiplier[c] < 0) return OutputPath::kReference;
  }
  return stage.act.min >= stage.output_offset ? OutputPath::kFastRelu : OutputPath::kFast;
}

}  // namespace kernels
