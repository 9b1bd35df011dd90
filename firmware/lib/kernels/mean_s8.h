// MEAN over H and W of an int8 NHWC tensor (global average pooling), bit-exact with the pinned
// TFLite Micro (checked against it for keep_dims true and false): the sum of (x - zp_in) over the
// n = H*W elements goes through MultiplyByQuantizedMultiplier once, with the multiplier of
// input_scale / output_scale divided by n on the host (m' = (m << k) / n, shift' = shift - k,
// k = min(floor(log2 n), 32, 31 + shift)), then + zp_out, clamped to int8.
#pragma once

#include "kernel_types.h"

namespace kernels {

struct MeanParams {
  int32_t input_zero_point;
  int32_t output_zero_point;
  int32_t multiplier, shift;  ///< Already divided by the element count (see above).
};

/// input [N, H, W, C]; output [N, C] (keep_dims or not: same bytes).
Status mean_hw_s8(const MeanParams& params, const Dims& input_dims, const int8_t* input, int8_t* output);

}  // namespace kernels
