#include "requantize_s8.h"

#include "requantize.h"

namespace kernels {

Status requantize_s8(const RequantizeParams& p, int32_t size, const int8_t* input, int8_t* output) {
  for (int32_t i = 0; i < size; ++i) {
    const int32_t value = multiply_by_quantized_multiplier(input[i] - p.input_zero_point, p.multiplier, p.shift);
    output[i] = clamp_to_int8(value + p.output_zero_point, -128, 127);
  }
  return Status::kOk;
}

Status activation_s8(const ActivationParams& p, int32_t size, const int8_t* input, int8_t* output) {
  const RequantizeParams& r = p.rescale;
  for (int32_t i = 0; i < size; ++i) {
    const int32_t value = multiply_by_quantized_multiplier(input[i] - r.input_zero_point, r.multiplier, r.shift);
    output[i] = clamp_to_int8(value + r.output_zero_point, p.act.min, p.act.max);
  }
  return Status::kOk;
}

Status leaky_relu_s8(const LeakyReluParams& p, int32_t size, const int8_t* input, int8_t* output) {
  for (int32_t i = 0; i < size; ++i) {
    const int32_t v = input[i] - p.input_zero_point;
    const int32_t scaled = v >= 0 ? multiply_by_quantized_multiplier(v, p.identity_multiplier, p.identity_shift)
                                  : multiply_by_quantized_multiplier(v, p.alpha_multiplier, p.alpha_shift);
    output[i] = clamp_to_int8(scaled + p.output_zero_point, -128, 127);
  }
  return Status::kOk;
}

}  // namespace kernels
