// MEAN over H and W of an int8 NHWC tensor (global average pooling), TFLite Micro's integer path.
#pragma once

#include "kernel_types.h"

namespace kernels {

struct MeanParams {
  int32_t input_zero_point;
  int32_t output_zero_point;
  int32_t multiplier, shift;  ///< QuantizeMultiplier(input_scale / output_scale)
};

/// input [N, H, W, C]; output [N, C] (keep_dims or not: same bytes).
Status mean_hw_s8(const MeanParams& params, const Dims& input_dims, const int8_t* input, int8_t* output);

}  // namespace kernels
