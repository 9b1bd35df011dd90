// DEPTHWISE_CONV_2D's backward kernels for a depth multiplier M > 1 or a dilation (README.md beside
// this file, "DEPTHWISE_CONV_2D"): portable C++ in a translation unit of its own, so that the reader
// lists and channel quads of backward_depthwise.cpp compile as they did. Output channel o = c * M + m
// reads input channel c; filter [1, KH, KW, C * M].
#include "backward_depthwise.h"

namespace train {

namespace {

/// v[n, iy, ix, c] of README "DEPTHWISE_CONV_2D" 1: the taps of the channel's M output channels
/// c * M .. c * M + M - 1 that read this element (taps dilation apart).
int32_t gathered(const ConvGeometry& g, const int8_t* e, const int8_t* filter, const int32_t* back_multiplier,
                 int32_t n, int32_t iy, int32_t ix, int32_t c) {
  const int32_t channels = g.out.c, multiplier = g.out.c / g.in.c;
  const int32_t first = c * multiplier, end = first + multiplier;
  int32_t sum = 0;
  for (int32_t i = 0; i < g.kh; ++i) {
    const int32_t oy = output_index(iy, g.stride_h, i * g.dilation_h, g.pad_top, g.out.h);
    if (oy < 0) continue;
    for (int32_t j = 0; j < g.kw; ++j) {
      const int32_t ox = output_index(ix, g.stride_w, j * g.dilation_w, g.pad_left, g.out.w);
      if (ox < 0) continue;
      const int8_t* e_at = e + ((n * g.out.h + oy) * g.out.w + ox) * channels;
      const int8_t* w_at = filter + (i * g.kw + j) * channels;
      for (int32_t o = first; o < end; ++o) sum += w_at[o] * channel_scaled(e_at[o], back_multiplier[o]);
    }
  }
  return sum;
}

/// g[i, j, o] of README "DEPTHWISE_CONV_2D" 3 for one output channel o and tap: e's channel o
/// against x's channel o / M, the tap dilation apart.
int32_t tap_gradient(const ConvGeometry& g, const int8_t* e, const int8_t* x, int32_t x_zero_point, int32_t o,
                     int32_t i, int32_t j) {
  const int32_t c = o / (g.out.c / g.in.c);
  int32_t sum = 0;
  for (int32_t n = 0; n < g.out.n; ++n)
    for (int32_t oy = 0; oy < g.out.h; ++oy) {
      const int32_t iy = oy * g.stride_h + i * g.dilation_h - g.pad_top;
      if (iy < 0 || iy >= g.in.h) continue;
      for (int32_t ox = 0; ox < g.out.w; ++ox) {
        const int32_t ix = ox * g.stride_w + j * g.dilation_w - g.pad_left;
        if (ix < 0 || ix >= g.in.w) continue;
        sum += e[((n * g.out.h + oy) * g.out.w + ox) * g.out.c + o] *
               (x[((n * g.in.h + iy) * g.in.w + ix) * g.in.c + c] - x_zero_point);
      }
    }
  return sum;
}

}  // namespace

int spread_input_error(const ConvGeometry& g, const int8_t* e, const int8_t* filter, const int32_t* back_multiplier,
                       int8_t* in_error) {
  return gather_normalised(
      g.in,
      [&](int32_t n, int32_t iy, int32_t ix, int32_t c) { return gathered(g, e, filter, back_multiplier, n, iy, ix, c); },
      in_error);
}

void spread_weight_update(const ConvGeometry& g, const int8_t* e, const int8_t* x, int32_t x_zero_point,
                          int8_t* filter, const ChannelUpdate& u, Xorshift32& rng) {
  for (int32_t k = 0; k < u.count; ++k) {
    const int32_t o = u.channels[k];
    const FixedFactor factor = fixed_factor(u.lr, u.factors[o]);
    for (int32_t i = 0; i < g.kh; ++i)
      for (int32_t j = 0; j < g.kw; ++j) {
        int8_t& weight = filter[(i * g.kw + j) * g.out.c + o];
        weight = updated_weight(weight, weight_delta(tap_gradient(g, e, x, x_zero_point, o, i, j), factor, u.exponent,
                                                     rng.draw16()));
      }
  }
}

}  // namespace train
