#include "backward_depthwise.h"

#include "dsp.h"

namespace train {

namespace {

namespace dsp = kernels::dsp;

/// Taps a channel quad's gradients hold (3x3 filters and smaller; larger ones run channel by channel).
constexpr int32_t kQuadTaps = 9;

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

namespace {

/// Filters up to this many taps gather through a list of the taps that read each input element;
/// larger ones gather tap by tap.
constexpr int32_t kListedTaps = 25;

/// A tap (i, j) and the output position (n, oy, ox) it reads an input element from, as the offsets
/// of their channel 0 in the filter and in the error.
struct Reader {
  int32_t filter, error;
};

/// The readers of input element (n, iy, ix), in tap order (i, then j); returns how many.
int32_t readers_of(const ConvGeometry& g, int32_t n, int32_t iy, int32_t ix, Reader* out) {
  int32_t count = 0;
  for (int32_t i = 0; i < g.kh; ++i) {
    const int32_t oy = output_index(iy, g.stride_h, i, g.pad_top, g.out.h);
    if (oy < 0) continue;
    for (int32_t j = 0; j < g.kw; ++j) {
      const int32_t ox = output_index(ix, g.stride_w, j, g.pad_left, g.out.w);
      if (ox >= 0)
        out[count++] = {(i * g.kw + j) * g.in.c, ((n * g.out.h + oy) * g.out.w + ox) * g.in.c};
    }
  }
  return count;
}

/// gathered() of channel c from a reader list. channel_scaled's (e * bm + 2^26) >> 27 is
/// (32 e * bm + 2^31) >> 32: one SMMULR, exact.
inline int32_t gathered_from(const Reader* readers, int32_t count, const int8_t* e, const int8_t* filter,
                             const int32_t* back_multiplier, int32_t c) {
  int32_t sum = 0;
  for (int32_t k = 0; k < count; ++k)
    sum += filter[readers[k].filter + c] * dsp::smmlar(e[readers[k].error + c] * 32, back_multiplier[c], 0);
  return sum;
}

/// depthwise_input_error through reader lists: each element's taps found once, not once a channel.
int listed_input_error(const ConvGeometry& g, const int8_t* e, const int8_t* filter, const int32_t* back_multiplier,
                       int8_t* in_error) {
  const int32_t channels = g.in.c;
  Reader readers[kListedTaps];
  uint32_t peak = 0;
  for (int32_t n = 0; n < g.in.n; ++n)
    for (int32_t iy = 0; iy < g.in.h; ++iy)
      for (int32_t ix = 0; ix < g.in.w; ++ix) {
        const int32_t count = readers_of(g, n, iy, ix, readers);
        for (int32_t c = 0; c < channels; ++c) {
          const uint32_t m = magnitude(gathered_from(readers, count, e, filter, back_multiplier, c));
          peak = m > peak ? m : peak;
        }
      }
  const int shift = normalise_shift(peak);
  int8_t* out = in_error;
  for (int32_t n = 0; n < g.in.n; ++n)
    for (int32_t iy = 0; iy < g.in.h; ++iy)
      for (int32_t ix = 0; ix < g.in.w; ++ix) {
        const int32_t count = readers_of(g, n, iy, ix, readers);
        for (int32_t c = 0; c < channels; ++c)
          *out++ = normalised(gathered_from(readers, count, e, filter, back_multiplier, c), shift);
      }
  return shift;
}

}  // namespace

int depthwise_input_error(const ConvGeometry& g, const int8_t* e, const int8_t* filter,
                          const int32_t* back_multiplier, int8_t* in_error) {
  if (is_spread(g)) return spread_input_error(g, e, filter, back_multiplier, in_error);
  if (g.kh * g.kw <= kListedTaps) return listed_input_error(g, e, filter, back_multiplier, in_error);
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

namespace {

/// The first and one past the last output index whose tap `tap` reads inside [0, size) of the input.
inline void inside_range(int32_t tap, int32_t stride, int32_t pad, int32_t size, int32_t out_size, int32_t* first,
                         int32_t* end) {
  const int32_t lo = pad - tap, hi = size - 1 + pad - tap;  // stride * out must lie in [lo, hi]
  *first = lo <= 0 ? 0 : (lo + stride - 1) / stride;
  *end = hi < 0 ? 0 : hi / stride + 1;
  if (*end > out_size) *end = out_size;
}

/// g[i, j, c] of README "DEPTHWISE_CONV_2D" 3 for one channel and tap.
int32_t tap_gradient(const ConvGeometry& g, const int8_t* e, const int8_t* x, int32_t x_zero_point, int32_t c,
                     int32_t i, int32_t j) {
  const int32_t channels = g.in.c;
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
  return sum;
}

/// The gradients of channels c .. c + 3 (a whole quad of the tensor) for every tap, into
/// gradient[lane * taps + tap]: per position one word of each tensor, widened by SXTB16 (x less its
/// zero point by SXTAB16), one SMLABB or SMLATT per channel; only the positions a tap reads
/// inside the input are visited.
void quad_gradients(const ConvGeometry& g, const int8_t* e, const int8_t* x, int32_t x_zero_point, int32_t c,
                    int32_t* gradient) {
  const int32_t channels = g.in.c, taps = g.kh * g.kw;
  const uint32_t offset = dsp::pack(-x_zero_point, -x_zero_point);
  const int32_t x_step = g.stride_w * channels, x_row_step = g.stride_h * g.in.w * channels;
  const int32_t e_step = g.out.w * channels;
  for (int32_t i = 0; i < g.kh; ++i)
    for (int32_t j = 0; j < g.kw; ++j) {
      int32_t oy0, oy1, ox0, ox1;
      inside_range(i, g.stride_h, g.pad_top, g.in.h, g.out.h, &oy0, &oy1);
      inside_range(j, g.stride_w, g.pad_left, g.in.w, g.out.w, &ox0, &ox1);
      int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;  // channels c, c + 1, c + 2, c + 3
      const int32_t row_bytes = (ox1 - ox0) * channels;
      for (int32_t n = 0; n < g.out.n; ++n) {
        const int8_t* e_row = e + ((n * g.out.h + oy0) * g.out.w + ox0) * channels + c;
        const int32_t iy0 = oy0 * g.stride_h + i - g.pad_top, ix0 = ox0 * g.stride_w + j - g.pad_left;
        const int8_t* x_row = x + ((n * g.in.h + iy0) * g.in.w + ix0) * channels + c;
        for (int32_t oy = oy0; oy < oy1; ++oy, e_row += e_step, x_row += x_row_step) {
          const int8_t* xp = x_row;
          for (const int8_t *ep = e_row, *const e_end = e_row + row_bytes; ep != e_end; ep += channels, xp += x_step) {
            const uint32_t ew = dsp::read_u32(ep), xw = dsp::read_u32(xp);
            const uint32_t e02 = dsp::sxtb16(ew), e13 = dsp::sxtb16_ror8(ew);
            const uint32_t x02 = dsp::sxtab16(offset, xw), x13 = dsp::sxtab16_ror8(offset, xw);
            a0 = dsp::smlabb(e02, x02, a0);
            a2 = dsp::smlatt(e02, x02, a2);
            a1 = dsp::smlabb(e13, x13, a1);
            a3 = dsp::smlatt(e13, x13, a3);
          }
        }
      }
      const int32_t tap = i * g.kw + j;
      gradient[tap] = a0, gradient[taps + tap] = a1, gradient[2 * taps + tap] = a2, gradient[3 * taps + tap] = a3;
    }
}

}  // namespace

void depthwise_weight_update(const ConvGeometry& g, const int8_t* e, const int8_t* x, int32_t x_zero_point,
                             int8_t* filter, const ChannelUpdate& u, Xorshift32& rng) {
  if (is_spread(g)) return spread_weight_update(g, e, x, x_zero_point, filter, u, rng);
  const int32_t channels = g.in.c, taps = g.kh * g.kw;
  const bool quads = taps <= kQuadTaps;
  int32_t gradient[4 * kQuadTaps];  // a channel quad's gradients, lane-major (144 bytes)
  int32_t quad = -1;                // the first channel of the quad they belong to
  for (int32_t k = 0; k < u.count; ++k) {
    const int32_t c = u.channels[k];
    const FixedFactor factor = fixed_factor(u.lr, u.factors[c]);
    const int32_t first = c - c % 4;
    if (quads && first + 4 <= channels) {  // a whole quad: its words never reach past the tensor
      if (first != quad) quad_gradients(g, e, x, x_zero_point, quad = first, gradient);
      update_weights(filter + c, channels, gradient + (c - first) * taps, 1, taps, factor, u.exponent, rng);
      continue;
    }
    for (int32_t i = 0; i < g.kh; ++i)
      for (int32_t j = 0; j < g.kw; ++j) {
        int8_t& weight = filter[(i * g.kw + j) * channels + c];
        weight = updated_weight(weight, weight_delta(tap_gradient(g, e, x, x_zero_point, c, i, j), factor,
                                                     u.exponent, rng.draw16()));
      }
  }
}

}  // namespace train
