#include "add_s8.h"

#include "requantize.h"

namespace kernels {

Status add_s8(const AddParams& p, int32_t size, const int8_t* input1, const int8_t* input2, int8_t* output) {
  for (int32_t i = 0; i < size; ++i) {
    const int32_t shifted1 = (input1[i] + p.input1_offset) * (1 << p.left_shift);
    const int32_t shifted2 = (input2[i] + p.input2_offset) * (1 << p.left_shift);
    const int32_t scaled1 = multiply_by_quantized_multiplier(shifted1, p.input1_multiplier, p.input1_shift);
    const int32_t scaled2 = multiply_by_quantized_multiplier(shifted2, p.input2_multiplier, p.input2_shift);
    const int32_t sum = multiply_by_quantized_multiplier(scaled1 + scaled2, p.output_multiplier, p.output_shift);
    output[i] = clamp_to_int8(sum + p.output_offset, p.act.min, p.act.max);
  }
  return Status::kOk;
}

}  // namespace kernels
