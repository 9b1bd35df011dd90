#include "pad_s8.h"

namespace kernels {

Status pad_s8(const PadParams& p, const Dims& in, const int8_t* input, const Dims& out, int8_t* output) {
  if (out.n != in.n + p.before[0] + p.after[0] || out.h != in.h + p.before[1] + p.after[1] ||
      out.w != in.w + p.before[2] + p.after[2] || out.c != in.c + p.before[3] + p.after[3])
    return Status::kBadShape;
  const int8_t fill = static_cast<int8_t>(p.pad_value);
  for (int32_t b = 0; b < out.n; ++b)
    for (int32_t y = 0; y < out.h; ++y)
      for (int32_t x = 0; x < out.w; ++x)
        for (int32_t ch = 0; ch < out.c; ++ch) {
          const int32_t ib = b - p.before[0], iy = y - p.before[1], ix = x - p.before[2], ic = ch - p.before[3];
          const bool inside = ib >= 0 && ib < in.n && iy >= 0 && iy < in.h && ix >= 0 && ix < in.w && ic >= 0 && ic < in.c;
          output[((b * out.h + y) * out.w + x) * out.c + ch] =
              inside ? input[((ib * in.h + iy) * in.w + ix) * in.c + ic] : fill;
        }
  return Status::kOk;
}

}  // namespace kernels
