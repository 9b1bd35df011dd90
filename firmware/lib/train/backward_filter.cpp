#include "backward_filter.h"

#include <cstring>

namespace train {

namespace {

/// Sum of channel c over patch (n, pi, pj) of t [N, H, W, C].
inline int32_t patch_sum(const PatchGrid& grid, const int8_t* t, int32_t channels, int32_t n, int32_t pi, int32_t pj,
                         int32_t c) {
  const int32_t rows = grid.rows(pi), cols = grid.cols(pj), row_step = grid.w * channels;
  const int8_t* row = t + ((n * grid.h + pi * grid.r) * grid.w + pj * grid.r) * channels + c;
  int32_t sum = 0;
  for (int32_t y = 0; y < rows; ++y, row += row_step) {
    const int8_t* at = row;
    for (int32_t x = 0; x < cols; ++x, at += channels) sum += *at;
  }
  return sum;
}

/// A patch's value times its reciprocal R(P) (int64: |v| < 2^31, R <= 2^16).
inline int64_t scaled(int32_t v, const PatchGrid& grid, int32_t p) {
  const int32_t pj = p % grid.pw, pi = (p / grid.pw) % grid.ph;
  return static_cast<int64_t>(v) * PatchGrid::reciprocal(grid.rows(pi) * grid.cols(pj));
}

inline uint64_t magnitude64(int64_t v) { return v < 0 ? 0u - static_cast<uint64_t>(v) : static_cast<uint64_t>(v); }

/// The right shift that brings 64-bit values of peak magnitude `peak` into 7 bits.
inline int normalise_shift64(uint64_t peak) {
  const int bits = peak == 0 ? 0 : 64 - __builtin_clzll(peak);
  return bits > kErrorBits ? bits - kErrorBits : 0;
}

/// (v + 2^(shift-1)) >> shift, saturated to [-127, 127] (shift < 63).
inline int8_t normalised64(int64_t v, int shift) {
  int64_t r = shift > 0 ? (v + (int64_t{1} << (shift - 1))) >> shift : v;
  return static_cast<int8_t>(r > 127 ? 127 : (r < -127 ? -127 : r));
}

/// Writes value(P, c) * R(P) (normalised by `shift`) at every element of patch P.
template <typename Value>
void broadcast(const PatchGrid& grid, int32_t channels, Value value, int shift, int8_t* out) {
  for (int32_t n = 0; n < grid.n; ++n)
    for (int32_t pi = 0; pi < grid.ph; ++pi)
      for (int32_t pj = 0; pj < grid.pw; ++pj) {
        const int32_t p = (n * grid.ph + pi) * grid.pw + pj;
        const int64_t reciprocal = PatchGrid::reciprocal(grid.rows(pi) * grid.cols(pj));
        int8_t* first = out + ((n * grid.h + pi * grid.r) * grid.w + pj * grid.r) * channels;
        for (int32_t c = 0; c < channels; ++c) {
          const int8_t v = normalised64(value(p, c) * reciprocal, shift);
          for (int32_t y = 0; y < grid.rows(pi); ++y)
            for (int32_t x = 0; x < grid.cols(pj); ++x) first[(y * grid.w + x) * channels + c] = v;
        }
      }
}

}  // namespace

void patch_means(const int8_t* x, const kernels::Dims& in, int32_t r, int8_t* means) {
  const PatchGrid grid(in, r);
  for (int32_t n = 0; n < grid.n; ++n)
    for (int32_t pi = 0; pi < grid.ph; ++pi)
      for (int32_t pj = 0; pj < grid.pw; ++pj) {
        const int32_t reciprocal = PatchGrid::reciprocal(grid.rows(pi) * grid.cols(pj));
        for (int32_t c = 0; c < in.c; ++c) {
          int32_t mean = (patch_sum(grid, x, in.c, n, pi, pj, c) * reciprocal + (1 << 15)) >> 16;
          mean = mean > 127 ? 127 : (mean < -128 ? -128 : mean);
          *means++ = static_cast<int8_t>(mean);
        }
      }
}

int filter_error(const kernels::Dims& out, int32_t r, int8_t* e) {
  const PatchGrid grid(out, r);
  uint32_t peak = 0;
  for (int32_t n = 0; n < grid.n; ++n)
    for (int32_t pi = 0; pi < grid.ph; ++pi)
      for (int32_t pj = 0; pj < grid.pw; ++pj)
        for (int32_t c = 0; c < out.c; ++c) {
          const uint32_t m = magnitude(patch_sum(grid, e, out.c, n, pi, pj, c));
          peak = m > peak ? m : peak;
        }
  const int shift = normalise_shift(peak);
  // In place: patch P's value for channel c lands at P * C + c, at or before every element a
  // later patch (or a later channel of this one) still reads.
  int8_t* filtered = e;
  for (int32_t n = 0; n < grid.n; ++n)
    for (int32_t pi = 0; pi < grid.ph; ++pi)
      for (int32_t pj = 0; pj < grid.pw; ++pj)
        for (int32_t c = 0; c < out.c; ++c) *filtered++ = normalised(patch_sum(grid, e, out.c, n, pi, pj, c), shift);
  return shift;
}

int filtered_input_error(const ConvGeometry& g, bool depthwise, int32_t r, const int8_t* eb, const int8_t* filter,
                         const int32_t* back_multiplier, int8_t* in_error, uint8_t* scratch) {
  const PatchGrid grid(g.in, r);
  const int32_t patches = grid.patches(), c_in = g.in.c, c_out = g.out.c, taps = g.kh * g.kw;
  uint64_t peak = 0;
  if (depthwise) {  // v[P, c] = h[P, c] * (the sum of channel c's taps): cheap to compute twice
    auto value = [&](int32_t p, int32_t c) {
      int32_t kernel_sum = 0;
      for (int32_t t = 0; t < taps; ++t) kernel_sum += filter[t * c_in + c];
      return channel_scaled(eb[p * c_in + c], back_multiplier[c]) * kernel_sum;
    };
    for (int32_t p = 0; p < patches; ++p)
      for (int32_t c = 0; c < c_in; ++c) {
        const uint64_t m = magnitude64(scaled(value(p, c), grid, p));
        peak = m > peak ? m : peak;
      }
    const int shift = normalise_shift64(peak);
    broadcast(grid, c_in, value, shift, in_error);
    return shift;
  }
  if (taps == 1 && patches > 1) {  // a 1x1 conv: the pointwise kernel's accumulators over the patch grid
    const ConvGeometry grid_conv{{grid.n, grid.ph, grid.pw, c_in}, {grid.n, grid.ph, grid.pw, c_out}, 1, 1, 1, 1, 0, 0};
    const int32_t* blocks = pointwise_error_blocks(grid_conv, eb, filter, back_multiplier, scratch);
    const int32_t position_pairs = (patches + 1) / 2;
    auto value = [blocks, position_pairs](int32_t p, int32_t c) {
      return blocks[((c / 2) * position_pairs + p / 2) * 4 + (p % 2) * 2 + c % 2];
    };
    for (int32_t p = 0; p < patches; ++p)
      for (int32_t c = 0; c < c_in; ++c) {
        const uint64_t m = magnitude64(scaled(value(p, c), grid, p));
        peak = m > peak ? m : peak;
      }
    const int shift = normalise_shift64(peak);
    broadcast(grid, c_in, value, shift, in_error);
    return shift;
  }
  int32_t* v = reinterpret_cast<int32_t*>(scratch);
  int16_t* h = reinterpret_cast<int16_t*>(scratch + 4u * static_cast<uint32_t>(patches * c_in));
  for (int32_t i = 0; i < patches * c_out; ++i)
    h[i] = static_cast<int16_t>(channel_scaled(eb[i], back_multiplier[i % c_out]));
  std::memset(v, 0, 4u * static_cast<uint32_t>(patches * c_in));
  for (int32_t p = 0; p < patches; ++p) {
    int32_t* a = v + p * c_in;
    for (int32_t o = 0; o < c_out; ++o) {
      const int32_t hv = h[p * c_out + o];
      if (hv == 0) continue;
      for (int32_t t = 0; t < taps; ++t) {
        const int8_t* w = filter + (o * taps + t) * c_in;
        for (int32_t c = 0; c < c_in; ++c) a[c] += w[c] * hv;
      }
    }
    for (int32_t c = 0; c < c_in; ++c) {
      const uint64_t m = magnitude64(scaled(a[c], grid, p));
      peak = m > peak ? m : peak;
    }
  }
  const int shift = normalise_shift64(peak);
  broadcast(grid, c_in, [v, c_in](int32_t p, int32_t c) { return v[p * c_in + c]; }, shift, in_error);
  return shift;
}

void patch_weight_update(const ConvGeometry& g, bool depthwise, int32_t r, bool filtered, const int8_t* e,
                         const int8_t* means, int32_t x_zero_point, int8_t* filter, const ChannelUpdate& u,
                         Xorshift32& rng, uint8_t* scratch) {
  const PatchGrid grid(g.out, r);
  const int32_t c_in = g.in.c, c_out = g.out.c, taps = g.kh * g.kw;
  // E(P, o), the patch's error (README "Gradient filtering" 4).
  auto patch_error = [&](int32_t n, int32_t pi, int32_t pj, int32_t o) -> int32_t {
    return filtered ? e[((n * grid.ph + pi) * grid.pw + pj) * c_out + o] : patch_sum(grid, e, c_out, n, pi, pj, o);
  };
  int32_t* gradient = reinterpret_cast<int32_t*>(scratch);  // CONV_2D: one output channel's, per input channel
  for (int32_t k = 0; k < u.count; ++k) {
    const int32_t o = u.channels[k];
    const FixedFactor factor = fixed_factor(u.lr, u.factors[o]);
    if (depthwise) {
      int32_t sum = 0;
      for (int32_t n = 0; n < grid.n; ++n)
        for (int32_t pi = 0; pi < grid.ph; ++pi)
          for (int32_t pj = 0; pj < grid.pw; ++pj)
            sum += patch_error(n, pi, pj, o) * (means[((n * grid.ph + pi) * grid.pw + pj) * c_in + o] - x_zero_point);
      for (int32_t t = 0; t < taps; ++t) {  // channel-major: this channel's taps, i then j
        int8_t& weight = filter[t * c_in + o];
        weight = updated_weight(weight, weight_delta(sum, factor, u.exponent, rng.draw16()));
      }
      continue;
    }
    std::memset(gradient, 0, 4u * static_cast<uint32_t>(c_in));
    for (int32_t n = 0; n < grid.n; ++n)
      for (int32_t pi = 0; pi < grid.ph; ++pi)
        for (int32_t pj = 0; pj < grid.pw; ++pj) {
          const int32_t ev = patch_error(n, pi, pj, o);
          if (ev == 0) continue;
          const int8_t* m = means + ((n * grid.ph + pi) * grid.pw + pj) * c_in;
          for (int32_t c = 0; c < c_in; ++c) gradient[c] += ev * (m[c] - x_zero_point);
        }
    int8_t* w = filter + o * taps * c_in;  // filter order: every tap takes the same gradient
    for (int32_t t = 0; t < taps; ++t)
      for (int32_t c = 0; c < c_in; ++c, ++w)
        *w = updated_weight(*w, weight_delta(gradient[c], factor, u.exponent, rng.draw16()));
  }
}

}  // namespace train
