#include "backward_depthwise.h"

namespace train {

namespace {

/// The output index whose tap `tap` reads input index `at`, -1 when none does (between strides or
/// outside the output).
inline int32_t output_index(int32_t at, int32_t stride, int32_t tap, int32_t pad, int32_t size) {
  const int32_t shifted = at + pad - tap;
  if (shifted < 0 || shifted % stride != 0) return -1;
  const int32_t out = shifted / stride;
  return out < size ? out : -1;
}

/// v[n, iy, ix, c] of README "DEPTHWISE_CONV_2D" 1: the channel's taps that read this element.
int32_t gathered(const ConvGeometry& g, const int8_t* e, const int8_t* filter, const int32_t* back_multiplier,
                 int32_t n, int32_t iy, int32_t ix, int32_t c) {
  const int32_t channels = g.in.c;
  int32_t sum = 0;
  for (int32_t i = 0; i < g.kh; ++i) {
    const int32_t oy = output_index(iy, g.stride_h, i, g.pad_top, g.out.h);
    if (oy < 0) continue;
    for (int32_t j = 0; j < g.kw; ++j) {
      const int32_t ox = output_index(ix, g.stride_w, j, g.pad_left, g.out.w);
      if (ox < 0) continue;
      const int32_t h = channel_scaled(e[((n * g.out.h + oy) * g.out.w + ox) * channels + c], back_multiplier[c]);
      sum += filter[(i * g.kw + j) * channels + c] * h;
    }
  }
  return sum;
}

}  // namespace

int depthwise_input_error(const ConvGeometry& g, const int8_t* e, const int8_t* filter,
                          const int32_t* back_multiplier, int8_t* in_error) {
  uint32_t peak = 0;
  for (int32_t n = 0; n < g.in.n; ++n)
    for (int32_t iy = 0; iy < g.in.h; ++iy)
      for (int32_t ix = 0; ix < g.in.w; ++ix)
        for (int32_t c = 0; c < g.in.c; ++c) {
          const uint32_t m = magnitude(gathered(g, e, filter, back_multiplier, n, iy, ix, c));
          peak = m > peak ? m : peak;
        }
  const int shift = normalise_shift(peak);
  int8_t* out = in_error;
  for (int32_t n = 0; n < g.in.n; ++n)
    for (int32_t iy = 0; iy < g.in.h; ++iy)
      for (int32_t ix = 0; ix < g.in.w; ++ix)
        for (int32_t c = 0; c < g.in.c; ++c)
          *out++ = normalised(gathered(g, e, filter, back_multiplier, n, iy, ix, c), shift);
  return shift;
}

void depthwise_weight_update(const ConvGeometry& g, const int8_t* e, const int8_t* x, int32_t x_zero_point,
                             int8_t* filter, const ChannelUpdate& u, Xorshift32& rng) {
  const int32_t channels = g.in.c;
  for (int32_t k = 0; k < u.count; ++k) {
    const int32_t c = u.channels[k];
    const FixedFactor factor = fixed_factor(u.lr, u.factors[c]);
    for (int32_t i = 0; i < g.kh; ++i)
      for (int32_t j = 0; j < g.kw; ++j) {
        int32_t sum = 0;
        for (int32_t n = 0; n < g.out.n; ++n)
          for (int32_t oy = 0; oy < g.out.h; ++oy) {
            const int32_t iy = oy * g.stride_h + i - g.pad_top;
            if (iy < 0 || iy >= g.in.h) continue;
            for (int32_t ox = 0; ox < g.out.w; ++ox) {
              const int32_t ix = ox * g.stride_w + j - g.pad_left;
              if (ix < 0 || ix >= g.in.w) continue;
              sum += e[((n * g.out.h + oy) * g.out.w + ox) * channels + c] *
                     (x[((n * g.in.h + iy) * g.in.w + ix) * channels + c] - x_zero_point);
            }
          }
        int8_t& weight = filter[(i * g.kw + j) * channels + c];
        weight = updated_weight(weight, weight_delta(sum, factor, u.exponent, rng.draw16()));
      }
  }
}

}  // namespace train
