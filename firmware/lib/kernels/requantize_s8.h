// QUANTIZE from int8 to int8 (a change of scale and zero point), TFLite's Requantize:
// out = MultiplyByQuantizedMultiplier(x - input_zero_point, multiplier, shift) + output_zero_point.
#pragma once

#include "kernel_types.h"

namespace kernels {

struct RequantizeParams {
  int32_t input_zero_point;
  int32_t output_zero_point;
  int32_t multiplier, shift;  ///< QuantizeMultiplier(input_scale / output_scale)
};

/// input, output: `size` int8 elements.
Status requantize_s8(const RequantizeParams& params, int32_t size, const int8_t* input, int8_t* output);

}  // namespace kernels
