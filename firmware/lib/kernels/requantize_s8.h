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

/// A standalone RELU or RELU6 (quantize/ops/activation.py): the same rescale, then a clamp to
/// [act_min, act_max] (RELU6: the identity rescale, multiplier 2^30 and shift 1).
struct ActivationParams {
  RequantizeParams rescale;
  ActivationRange act;
};

/// input, output: `size` int8 elements; output may be input (element-wise).
Status activation_s8(const ActivationParams& params, int32_t size, const int8_t* input, int8_t* output);

/// LEAKY_RELU (quantize/ops/leaky_relu.py): x - input_zero_point rescaled by the identity
/// multiplier where >= 0, by the alpha one below, plus output_zero_point, clamped to int8.
struct LeakyReluParams {
  int32_t input_zero_point, output_zero_point;
  int32_t identity_multiplier, identity_shift;
  int32_t alpha_multiplier, alpha_shift;
};

/// input, output: `size` int8 elements; output may be input (element-wise).
Status leaky_relu_s8(const LeakyReluParams& params, int32_t size, const int8_t* input, int8_t* output);

}  // namespace kernels
