#include "backward_s8.h"

#include <cstring>

namespace train {

namespace {

/// The input row (or column) a filter tap reads for an output position, -1 when in the padding.
inline int32_t input_index(int32_t out, int32_t stride, int32_t tap, int32_t pad, int32_t size) {
  const int32_t at = out * stride + tap - pad;
  return at >= 0 && at < size ? at : -1;
}

}  // namespace

void make_mask(const int8_t* y, int32_t n, int32_t act_min, int32_t act_max, uint8_t* mask) {
  std::memset(mask, 0, static_cast<size_t>((n + 7) / 8));
  for (int32_t i = 0; i < n; ++i)
    if (y[i] > act_min && y[i] < act_max) mask[i >> 3] |= static_cast<uint8_t>(1u << (i & 7));
}

void apply_mask(int8_t* e, const uint8_t* mask, int32_t n) {
  for (int32_t i = 0; i < n; ++i)
    if (((mask[i >> 3] >> (i & 7)) & 1u) == 0) e[i] = 0;
}

uint32_t conv_input_error_scratch_bytes(const ConvGeometry& g) {
  return 4u * static_cast<uint32_t>(g.in.elements()) + 2u * static_cast<uint32_t>(g.out.elements());
}

uint32_t conv_weight_update_scratch_bytes(const ConvGeometry& g) {
  return 4u * static_cast<uint32_t>(g.kh * g.kw * g.in.c);
}

uint32_t conv_scratch_bytes(const ConvGeometry& g, bool input_error, bool weights) {
  const uint32_t a = input_error ? conv_input_error_scratch_bytes(g) : 0u;
  const uint32_t b = weights ? conv_weight_update_scratch_bytes(g) : 0u;
  return a > b ? a : b;
}

int conv_input_error(const ConvGeometry& g, const int8_t* e, const int8_t* filter, const int32_t* back_multiplier,
                     int8_t* in_error, uint8_t* scratch) {
  const int32_t in_elements = g.in.elements(), out_elements = g.out.elements();
  const int32_t c_out = g.out.c, c_in = g.in.c;
  int32_t* acc = reinterpret_cast<int32_t*>(scratch);
  int16_t* h = reinterpret_cast<int16_t*>(scratch + 4u * static_cast<uint32_t>(in_elements));
  for (int32_t i = 0; i < out_elements; ++i)
    h[i] = static_cast<int16_t>(channel_scaled(e[i], back_multiplier[i % c_out]));
  std::memset(acc, 0, 4u * static_cast<uint32_t>(in_elements));
  for (int32_t n = 0; n < g.out.n; ++n)
    for (int32_t oy = 0; oy < g.out.h; ++oy)
      for (int32_t ox = 0; ox < g.out.w; ++ox) {
        const int16_t* h_row = h + ((n * g.out.h + oy) * g.out.w + ox) * c_out;
        for (int32_t i = 0; i < g.kh; ++i) {
          const int32_t iy = input_index(oy, g.stride_h, i, g.pad_top, g.in.h);
          if (iy < 0) continue;
          for (int32_t j = 0; j < g.kw; ++j) {
            const int32_t ix = input_index(ox, g.stride_w, j, g.pad_left, g.in.w);
            if (ix < 0) continue;
            int32_t* a = acc + ((n * g.in.h + iy) * g.in.w + ix) * c_in;
            for (int32_t o = 0; o < c_out; ++o) {
              const int32_t hv = h_row[o];
              if (hv == 0) continue;
              const int8_t* w = filter + ((o * g.kh + i) * g.kw + j) * c_in;
              for (int32_t c = 0; c < c_in; ++c) a[c] += w[c] * hv;
            }
          }
        }
      }
  return normalise_into(acc, in_elements, in_error);
}

void conv_bias_update(const ConvGeometry& g, const int8_t* e, int32_t* bias, const ChannelUpdate& u) {
  const int32_t positions = g.out.n * g.out.h * g.out.w, c_out = g.out.c;
  for (int32_t k = 0; k < u.count; ++k) {
    const int32_t o = u.channels[k];
    int32_t sum = 0;
    for (int32_t p = 0; p < positions; ++p) sum += e[p * c_out + o];
    bias[o] = updated_bias(bias[o], bias_delta(sum, fixed_factor(u.lr, u.factors[o]), u.exponent));
  }
}

void conv_weight_update(const ConvGeometry& g, const int8_t* e, const int8_t* x, int32_t x_zero_point,
                        int8_t* filter, const ChannelUpdate& u, Xorshift32& rng, uint8_t* scratch) {
  const int32_t c_out = g.out.c, c_in = g.in.c;
  const int32_t row_elements = g.kh * g.kw * c_in;
  // One output channel's gradient at a time (never the whole layer's), accumulated position by
  // position so that the inner loop runs over contiguous input channels and skips the positions
  // whose error is zero (the ReLU masks zero many).
  int32_t* gradient = reinterpret_cast<int32_t*>(scratch);
  for (int32_t k = 0; k < u.count; ++k) {
    const int32_t o = u.channels[k];
    std::memset(gradient, 0, 4u * static_cast<uint32_t>(row_elements));
    for (int32_t n = 0; n < g.out.n; ++n)
      for (int32_t oy = 0; oy < g.out.h; ++oy)
        for (int32_t ox = 0; ox < g.out.w; ++ox) {
          const int32_t ev = e[((n * g.out.h + oy) * g.out.w + ox) * c_out + o];
          if (ev == 0) continue;
          for (int32_t i = 0; i < g.kh; ++i) {
            const int32_t iy = input_index(oy, g.stride_h, i, g.pad_top, g.in.h);
            if (iy < 0) continue;
            for (int32_t j = 0; j < g.kw; ++j) {
              const int32_t ix = input_index(ox, g.stride_w, j, g.pad_left, g.in.w);
              if (ix < 0) continue;
              const int8_t* x_row = x + ((n * g.in.h + iy) * g.in.w + ix) * c_in;
              int32_t* g_row = gradient + (i * g.kw + j) * c_in;
              for (int32_t c = 0; c < c_in; ++c) g_row[c] += ev * (x_row[c] - x_zero_point);
            }
          }
        }
    const FixedFactor factor = fixed_factor(u.lr, u.factors[o]);
    int8_t* w = filter + o * row_elements;
    for (int32_t idx = 0; idx < row_elements; ++idx)
      w[idx] = updated_weight(w[idx], weight_delta(gradient[idx], factor, u.exponent, rng.draw16()));
  }
}

int mean_input_error(const int8_t* e, const kernels::Dims& in, int32_t reciprocal, int8_t* in_error) {
  const int32_t channels = in.n * in.c;
  uint32_t peak = 0;
  for (int32_t i = 0; i < channels; ++i) {
    const uint32_t m = magnitude(e[i] * reciprocal);
    peak = m > peak ? m : peak;
  }
  const int shift = normalise_shift(peak);
  for (int32_t n = 0; n < in.n; ++n)
    for (int32_t p = 0; p < in.h * in.w; ++p)
      for (int32_t c = 0; c < in.c; ++c)
        in_error[(n * in.h * in.w + p) * in.c + c] = normalised(e[n * in.c + c] * reciprocal, shift);
  return shift;
}

}  // namespace train
