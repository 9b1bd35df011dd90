#include "pool_s8.h"

#include "requantize.h"

namespace kernels {

namespace {

// Visits the clipped window of every output element; Reduce(window) -> int8 value.
template <typename Reduce>
Status pool(const PoolParams& p, const Dims& in, const int8_t* input, const Dims& out, int8_t* output, Reduce reduce) {
  if (in.n != out.n || in.c != out.c) return Status::kBadShape;
  const int32_t c = in.c;
  for (int32_t b = 0; b < out.n; ++b) {
    for (int32_t oy = 0; oy < out.h; ++oy) {
      const int32_t in_y0 = oy * p.stride_h - p.pad_top;
      const int32_t fy_start = in_y0 < 0 ? -in_y0 : 0;
      const int32_t fy_end = (in.h - in_y0) < p.filter_h ? (in.h - in_y0) : p.filter_h;
      for (int32_t ox = 0; ox < out.w; ++ox) {
        const int32_t in_x0 = ox * p.stride_w - p.pad_left;
        const int32_t fx_start = in_x0 < 0 ? -in_x0 : 0;
        const int32_t fx_end = (in.w - in_x0) < p.filter_w ? (in.w - in_x0) : p.filter_w;
        int8_t* out_pixel = output + ((b * out.h + oy) * out.w + ox) * c;
        for (int32_t ch = 0; ch < c; ++ch) {
          const int8_t* base = input + (b * in.h * in.w) * c + ch;
          out_pixel[ch] = reduce(base, in_y0, in_x0, fy_start, fy_end, fx_start, fx_end, in.w, c);
        }
      }
    }
  }
  return Status::kOk;
}

}  // namespace

Status average_pool_s8(const PoolParams& p, const Dims& in, const int8_t* input, const Dims& out, int8_t* output) {
  return pool(p, in, input, out, output,
              [&p](const int8_t* base, int32_t y0, int32_t x0, int32_t fys, int32_t fye, int32_t fxs, int32_t fxe,
                   int32_t width, int32_t c) {
                int32_t acc = 0, count = 0;
                for (int32_t fy = fys; fy < fye; ++fy)
                  for (int32_t fx = fxs; fx < fxe; ++fx) {
                    acc += base[((y0 + fy) * width + (x0 + fx)) * c];
                    ++count;
                  }
                if (count == 0) return clamp_to_int8(0, p.act.min, p.act.max);
                // Round half away from zero, as the reference does.
                acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                return clamp_to_int8(acc, p.act.min, p.act.max);
              });
}

Status max_pool_s8(const PoolParams& p, const Dims& in, const int8_t* input, const Dims& out, int8_t* output) {
  return pool(p, in, input, out, output,
              [&p](const int8_t* base, int32_t y0, int32_t x0, int32_t fys, int32_t fye, int32_t fxs, int32_t fxe,
                   int32_t width, int32_t c) {
                int32_t best = -128;
                for (int32_t fy = fys; fy < fye; ++fy)
                  for (int32_t fx = fxs; fx < fxe; ++fx) {
                    const int32_t v = base[((y0 + fy) * width + (x0 + fx)) * c];
                    if (v > best) best = v;
                  }
                return clamp_to_int8(best, p.act.min, p.act.max);
              });
}

}  // namespace kernels
