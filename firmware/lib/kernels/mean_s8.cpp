#include "mean_s8.h"

#include <cmath>

#include "requantize.h"

// The float path must round after every operation, as the reference does (no fused multiply-add).
#pragma GCC optimize("fp-contract=off")

namespace kernels {

namespace {

int32_t mean_one(const MeanParams& p, int32_t sum_raw, int32_t count) {
  switch (p.mode) {
    case MeanMode::kRequantize: {
      // sum of (x - zp_in) = sum_raw - count * zp_in
      int32_t acc = multiply_by_quantized_multiplier(sum_raw - count * p.input_zero_point, p.multiplier, p.shift);
      acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
      return acc + p.output_zero_point;
    }
    case MeanMode::kSameScale:
      return sum_raw / count;
    case MeanMode::kFloat: {
      const float mean = static_cast<float>(sum_raw) / static_cast<float>(count);
      return static_cast<int32_t>(std::round(mean * p.scale + p.bias)) + p.output_zero_point;
    }
  }
  return 0;
}

}  // namespace

Status mean_hw_s8(const MeanParams& p, const Dims& in, const int8_t* input, int8_t* output) {
  const int32_t count = in.h * in.w;
  if (count <= 0) return Status::kBadShape;
  for (int32_t b = 0; b < in.n; ++b) {
    for (int32_t ch = 0; ch < in.c; ++ch) {
      int32_t sum = 0;
      const int8_t* x = input + b * count * in.c + ch;
      for (int32_t i = 0; i < count; ++i) sum += x[i * in.c];
      output[b * in.c + ch] = clamp_to_int8(mean_one(p, sum, count), -128, 127);
    }
  }
  return Status::kOk;
}

}  // namespace kernels
