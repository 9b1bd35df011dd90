#include "mean_s8.h"

#include "requantize.h"

namespace kernels {

Status mean_hw_s8(const MeanParams& p, const Dims& in, const int8_t* input, int8_t* output) {
  const int32_t count = in.h * in.w;
  if (count <= 0) return Status::kBadShape;
  for (int32_t b = 0; b < in.n; ++b) {
    for (int32_t ch = 0; ch < in.c; ++ch) {
      int32_t acc = 0;
      const int8_t* x = input + b * count * in.c + ch;
      for (int32_t i = 0; i < count; ++i) acc += x[i * in.c] - p.input_zero_point;
      acc = multiply_by_quantized_multiplier(acc, p.multiplier, p.shift);
      acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
      output[b * in.c + ch] = clamp_to_int8(acc + p.output_zero_point, -128, 127);
    }
  }
  return Status::kOk;
}

}  // namespace kernels
