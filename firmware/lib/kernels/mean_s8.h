// MEAN of an int8 NHWC tensor over any of its dimensions (H and W: global average pooling; one
// dimension of a sequence; the channels), bit-exact with the pinned TFLite Micro (checked against it
// for keep_dims true and false): the sum of (x - zp_in) over the n reduced elements goes through
// MultiplyByQuantizedMultiplier once, with the multiplier of input_scale / output_scale divided by
// n on the host (m' = (m << k) / n, shift' = shift - k, k = min(floor(log2 n), 32, 31 + shift)),
// then + zp_out, clamped to int8.
#pragma once

#include "kernel_types.h"

namespace kernels {

/// MeanParams::axes: the reduced dimensions as bits.
constexpr int32_t kMeanAxisN = 1, kMeanAxisH = 2, kMeanAxisW = 4, kMeanAxisC = 8;

struct MeanParams {
  int32_t input_zero_point;
  int32_t output_zero_point;
  int32_t multiplier, shift;  ///< Already divided by the element count (see above).
  int32_t axes;               ///< kMeanAxis* bits, at least one
};

/// The output dims of a MEAN over `axes` of `in`: 1 along each reduced dimension.
inline Dims mean_output_dims(const Dims& in, int32_t axes) {
  return {axes & kMeanAxisN ? 1 : in.n, axes & kMeanAxisH ? 1 : in.h, axes & kMeanAxisW ? 1 : in.w,
          axes & kMeanAxisC ? 1 : in.c};
}

/// input [N, H, W, C]; output mean_output_dims(input_dims, params.axes) (keep_dims or not: same bytes).
Status mean_s8(const MeanParams& params, const Dims& input_dims, const int8_t* input, int8_t* output);

}  // namespace kernels
