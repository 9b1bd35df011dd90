#include "mean_s8.h"

#include "requantize.h"

namespace kernels {

Status mean_s8(const MeanParams& p, const Dims& in, const int8_t* input, int8_t* output) {
  const Dims out = mean_output_dims(in, p.axes);
  const int32_t count = in.elements() / out.elements();
  if (count <= 0) return Status::kBadShape;
  // The reduced dimensions' extents (the others: one index, the output's).
  const int32_t rn = in.n / out.n, rh = in.h / out.h, rw = in.w / out.w, rc = in.c / out.c;
  for (int32_t n = 0; n < out.n; ++n)
    for (int32_t h = 0; h < out.h; ++h)
      for (int32_t w = 0; w < out.w; ++w)
        for (int32_t c = 0; c < out.c; ++c) {
          int32_t sum = 0;
          for (int32_t i = 0; i < rn; ++i)
            for (int32_t j = 0; j < rh; ++j)
              for (int32_t k = 0; k < rw; ++k) {
                const int8_t* x = input + (((n + i) * in.h + h + j) * in.w + w + k) * in.c + c;
                for (int32_t l = 0; l < rc; ++l) sum += x[l];
              }
          const int32_t value = multiply_by_quantized_multiplier(sum - count * p.input_zero_point, p.multiplier, p.shift);
          *output++ = clamp_to_int8(value + p.output_zero_point, -128, 127);
        }
  return Status::kOk;
}

}  // namespace kernels
