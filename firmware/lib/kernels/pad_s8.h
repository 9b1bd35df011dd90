// PAD of an int8 NHWC tensor with a constant (the zero point for TFLite's PAD).
#pragma once

#include "kernel_types.h"

namespace kernels {

struct PadParams {
  int32_t before[4];  ///< Elements added before each of N, H, W, C.
  int32_t after[4];
  int32_t pad_value;
};

/// input [N, H, W, C]; output [N + before[0] + after[0], ...].
Status pad_s8(const PadParams& params, const Dims& input_dims, const int8_t* input, const Dims& output_dims,
              int8_t* output);

}  // namespace kernels
