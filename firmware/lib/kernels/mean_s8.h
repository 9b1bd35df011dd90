// MEAN over H and W of an int8 NHWC tensor (global average pooling), reproducing the three paths
// TFLite Micro's int8 MEAN takes (reduce_common.cc, EvalMeanHelper):
//  kRequantize  keep_dims: integer sum of (x - zp_in), MultiplyByQuantizedMultiplier(in/out
//               scale), rounded division by the count, + zp_out.
//  kSameScale   no keep_dims, same input/output quantization: integer sum / count, truncated.
//  kFloat       no keep_dims otherwise: float32 round(sum / count * scale + bias) + zp_out, with
//               scale = in_scale / out_scale and bias = -zp_in * scale, both computed by the host
//               in float32 exactly as TFLM does. Compiled without FMA contraction so the device
//               rounds each float operation as the reference does.
#pragma once

#include "kernel_types.h"

namespace kernels {

enum class MeanMode : int32_t { kRequantize = 0, kSameScale = 1, kFloat = 2 };

struct MeanParams {
  MeanMode mode;
  int32_t input_zero_point;
  int32_t output_zero_point;
  int32_t multiplier, shift;  ///< kRequantize: QuantizeMultiplier(input_scale / output_scale)
  float scale, bias;          ///< kFloat
};

/// input [N, H, W, C]; output [N, C] (keep_dims or not: same bytes).
Status mean_hw_s8(const MeanParams& params, const Dims& input_dims, const int8_t* input, int8_t* output);

}  // namespace kernels
