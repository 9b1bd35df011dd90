// AVERAGE_POOL_2D and MAX_POOL_2D, int8 (TFLite semantics: input and output share quantization;
// the window is clipped to the input, and the average divides by the clipped count).
#pragma once

#include "kernel_types.h"

namespace kernels {

struct PoolParams {
  int32_t stride_h, stride_w;
  int32_t filter_h, filter_w;
  int32_t pad_top, pad_left;
  ActivationRange act;
};

/// input [N, H, W, C]; output [N, OH, OW, C].
Status average_pool_s8(const PoolParams& params, const Dims& input_dims, const int8_t* input,
                       const Dims& output_dims, int8_t* output);
Status max_pool_s8(const PoolParams& params, const Dims& input_dims, const int8_t* input, const Dims& output_dims,
                   int8_t* output);

}  // namespace kernels
