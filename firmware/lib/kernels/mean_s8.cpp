#include "mean_s8.h"

#include "requantize.h"

namespace kernels {

Status mean_hw_s8(const MeanParams& p, const Dims& in, const int8_t* input, int8_t* output) {
  const int32_t count = in.h * in.w;
  if (count <= 0) return Status::kBadShape;
  for (int32_t b = 0; b < in.n; ++b) {
    for (int32_t ch = 0; ch < in.c; ++ch) {
      int32_t sum = 0;
      const int8_t* x = input + b * count * in.c + ch;
      for (int32_t i = 0; i < count; ++i) sum += x[i * in.c];
      const int32_t value = multiply_by_quantized_multiplier(sum - count * p.input_zero_point, p.multiplier, p.shift);
      output[b * in.c + ch] = clamp_to_int8(value + p.output_zero_point, -128, 127);
    }
  }
  return Status::kOk;
}

}  // namespace kernels
