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

/// Calls visit(p, c, rows, cols, offset, R(P)) for every patch P (index p, rows x cols elements from
/// element `offset` of an [N, H, W, channels] tensor) and channel c.
template <typename Visit>
void each_patch(const PatchGrid& grid, int32_t channels, Visit visit) {
  for (int32_t n = 0; n < grid.n; ++n)
    for (int32_t pi = 0; pi < grid.ph; ++pi)
      for (int32_t pj = 0; pj < grid.pw; ++pj) {
        const int32_t p = (n * grid.ph + pi) * grid.pw + pj, rows = grid.rows(pi), cols = grid.cols(pj);
        const int32_t offset = ((n * grid.h + pi * grid.r) * grid.w + pj * grid.r) * channels;
        const int64_t reciprocal = PatchGrid::reciprocal(rows * cols);
        for (int32_t c = 0; c < channels; ++c) visit(p, c, rows, cols, offset, reciprocal);
      }
}

/// Writes value(P, c) * R(P), normalised over all of them, at every element of patch P of `out`
/// [N, H, W, channels]; returns the normalisation shift.
template <typename Value>
int broadcast_normalised(const PatchGrid& grid, int32_t channels, Value value, int8_t* out) {
  uint64_t peak = 0;
  each_patch(grid, channels, [&](int32_t p, int32_t c, int32_t, int32_t, int32_t, int64_t reciprocal) {
    const uint64_t m = magnitude64(value(p, c) * reciprocal);
    peak = m > peak ? m : peak;
  });
  const int shift = normalise_shift64(peak);
  const int32_t row_step = grid.w * channels;
  each_patch(grid, channels, [&](int32_t p, int32_t c, int32_t rows, int32_t cols, int32_t offset, int64_t reciprocal) {
    const int8_t v = normalised64(value(p, c) * reciprocal, shift);
    for (int32_t y = 0; y < rows; ++y)
      for (int32_t x = 0; x < cols; ++x) out[offset + y * row_step + x * channels + c] = v;
  });
  return shift;
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
  if (depthwise) {  // v[P, c] = h[P, c] * (the sum of channel c's taps): cheap to compute twice
    auto value = [&](int32_t p, int32_t c) {
      int32_t kernel_sum = 0;
      for (int32_t t = 0; t < taps; ++t) kernel_sum += filter[t * c_in + c];
      return channel_scaled(eb[p * c_in + c], back_multiplier[c]) * kernel_sum;
    };
    return broadcast_normalised(grid, c_in, value, in_error);
  }
  if (taps == 1 && patches > 1) {  // a 1x1 conv: the pointwise kernel's accumulators over the patch grid
    const ConvGeometry grid_conv{{grid.n, grid.ph, grid.pw, c_in}, {grid.n, grid.ph, grid.pw, c_out}, 1, 1, 1, 1, 0, 0, 1, 1};
    const int32_t* blocks = pointwise_error_blocks(grid_conv, eb, filter, back_multiplier, scratch);
    const int32_t position_pairs = (patches + 1) / 2;
    auto value = [blocks, position_pairs](int32_t p, int32_t c) {
      return blocks[((c / 2) * position_pairs + p / 2) * 4 + (p % 2) * 2 + c % 2];
    };
    return broadcast_normalised(grid, c_in, value, in_error);
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
  }
  return broadcast_normalised(grid, c_in, [v, c_in](int32_t p, int32_t c) { return v[p * c_in + c]; }, in_error);
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
      // Channel-major: this channel's taps, i then j, all with the one gradient.
      update_weights(filter + o, c_in, &sum, 0, taps, factor, u.exponent, rng);
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
    for (int32_t t = 0; t < taps; ++t)  // filter order: every tap takes the same gradient row
      update_weights(filter + (o * taps + t) * c_in, 1, gradient, 1, c_in, factor, u.exponent, rng);
  }
}

}  // namespace train
