// The scalar and element-wise arithmetic of a training step (README.md beside this file:
// "Error tensors", "Loss", "Updates"); quantize/training/numerics.py is its numpy twin.
#pragma once

#include <cmath>
#include <cstdint>

namespace train {

constexpr int kErrorBits = 7;               // error tensors are int8 in [-127, 127]
constexpr int kLogitErrorExponent = 15;     // dL/dlogit = p - onehot in Q0.15
constexpr int32_t kLn2Q16 = 45426;          // round(ln 2 * 2^16)
constexpr int kRandomBits = 16;             // fraction bits a stochastic rounding draws
constexpr int32_t kWeightLimit = 127;       // int8 weights are symmetric

/// Marsaglia's xorshift32: the named, seeded PRNG of the weight updates.
struct Xorshift32 {
  uint32_t state = 1;
  uint32_t next() {
    uint32_t x = state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    state = x;
    return x;
  }
  int64_t draw16() { return static_cast<int64_t>(next() >> (32 - kRandomBits)); }
};

inline int bit_length(uint32_t m) { return m == 0 ? 0 : 32 - __builtin_clz(m); }

/// |v| without overflow at INT32_MIN.
inline uint32_t magnitude(int32_t v) { return v < 0 ? 0u - static_cast<uint32_t>(v) : static_cast<uint32_t>(v); }

/// The right shift that brings accumulators of peak magnitude `peak` into 7 bits.
inline int normalise_shift(uint32_t peak) {
  const int excess = bit_length(peak) - kErrorBits;
  return excess > 0 ? excess : 0;
}

/// (v + 2^(shift-1)) >> shift, saturated to [-127, 127].
inline int8_t normalised(int32_t v, int shift) {
  int32_t r = shift > 0 ? static_cast<int32_t>((static_cast<int64_t>(v) + (int64_t{1} << (shift - 1))) >> shift) : v;
  if (r > 127) r = 127;
  if (r < -127) r = -127;
  return static_cast<int8_t>(r);
}

/// Normalises `count` accumulators into an int8 error tensor; returns the shift it applied.
inline int normalise_into(const int32_t* values, int32_t count, int8_t* error) {
  uint32_t peak = 0;
  for (int32_t i = 0; i < count; ++i) peak = magnitude(values[i]) > peak ? magnitude(values[i]) : peak;
  const int shift = normalise_shift(peak);
  for (int32_t i = 0; i < count; ++i) error[i] = normalised(values[i], shift);
  return shift;
}

/// The two passes of an input error computed per element without scratch (pools, MUL, SUB): the
/// peak of value(n, iy, ix, c) (an int32 gathered from the output error) over the input's dims `in`
/// ({n, h, w, c}), then each value normalised into `to`. Returns the shift.
template <typename Dims, typename Value>
int gather_normalised(const Dims& in, Value value, int8_t* to) {
  uint32_t peak = 0;
  for (int32_t n = 0; n < in.n; ++n)
    for (int32_t iy = 0; iy < in.h; ++iy)
      for (int32_t ix = 0; ix < in.w; ++ix)
        for (int32_t c = 0; c < in.c; ++c) {
          const uint32_t m = magnitude(value(n, iy, ix, c));
          peak = m > peak ? m : peak;
        }
  const int shift = normalise_shift(peak);
  for (int32_t n = 0; n < in.n; ++n)
    for (int32_t iy = 0; iy < in.h; ++iy)
      for (int32_t ix = 0; ix < in.w; ++ix)
        for (int32_t c = 0; c < in.c; ++c) *to++ = normalised(value(n, iy, ix, c), shift);
  return shift;
}

/// An output error scaled by its channel's back multiplier (README "CONV_2D" 1): e * bm >> 27,
/// rounded, 4 bits finer than e.
inline int32_t channel_scaled(int32_t e, int32_t back_multiplier) {
  return static_cast<int32_t>((static_cast<int64_t>(e) * back_multiplier + (1 << 26)) >> 27);
}

inline int64_t shift_right(int64_t t, int n) { return t >> (n < 63 ? n : 63); }

inline int32_t saturate32(int64_t v) {
  return v > INT32_MAX ? INT32_MAX : (v < INT32_MIN ? INT32_MIN : static_cast<int32_t>(v));
}

/// t * 2^n saturated to int32 (n >= 0; only absurd learning rates get here).
inline int32_t saturating_shift_left(int64_t t, int n) {
  const int32_t clamped = saturate32(t);
  if (n >= 31) return clamped > 0 ? INT32_MAX : (clamped < 0 ? INT32_MIN : 0);
  return saturate32(static_cast<int64_t>(clamped) * (int64_t{1} << n));
}

/// float32(lr) * factor in float32 as M * 2^(e - 31), M in [2^30, 2^31) (0 for a zero product).
struct FixedFactor {
  int32_t m;
  int e;
};
inline FixedFactor fixed_factor(float lr, float factor) {
  const float product = lr * factor;  // one IEEE single multiply; built with -ffp-contract=off
  int e = 0;
  const float mantissa = std::frexp(product, &e);
  return {static_cast<int32_t>(mantissa * 2147483648.0f), e};
}

/// gradient * M * 2^(e - 31 - k), stochastically rounded with the 16-bit draw r.
inline int32_t weight_delta(int64_t gradient, FixedFactor f, int k, int64_t r) {
  const int64_t t = gradient * f.m;
  const int shift = 31 + k - f.e;
  if (shift >= kRandomBits) return saturate32((shift_right(t, shift - kRandomBits) + r) >> kRandomBits);
  if (shift > 0) return saturate32((t + (r >> (kRandomBits - shift))) >> shift);
  return saturating_shift_left(t, -shift);
}

/// gradient * M * 2^(e - 31 - k), rounded to nearest (ties toward +inf).
inline int32_t bias_delta(int64_t gradient, FixedFactor f, int k) {
  const int64_t t = gradient * f.m;
  const int shift = 31 + k - f.e;
  if (shift >= 63) return static_cast<int32_t>(t >> 63);
  if (shift > 0) return saturate32((t + (int64_t{1} << (shift - 1))) >> shift);
  return saturating_shift_left(t, -shift);
}

inline int8_t updated_weight(int8_t w, int32_t delta) {
  const int64_t v = static_cast<int64_t>(w) - delta;
  return static_cast<int8_t>(v > kWeightLimit ? kWeightLimit : (v < -kWeightLimit ? -kWeightLimit : v));
}

inline int32_t updated_bias(int32_t b, int32_t delta) { return saturate32(static_cast<int64_t>(b) - delta); }

/// log2(x) in Q16 for x > 0: the leading bit, then 16 squarings of the Q1.30 mantissa.
inline int32_t log2_q16(uint32_t x) {
  const int n = bit_length(x) - 1;
  uint64_t y = n <= 30 ? uint64_t{x} << (30 - n) : uint64_t{x} >> (n - 30);
  int32_t fraction = 0;
  for (int i = 1; i <= 16; ++i) {
    y = (y * y) >> 30;
    if (y >= (uint64_t{1} << 31)) {
      y >>= 1;
      fraction |= 1 << (16 - i);
    }
  }
  return (n << 16) + fraction;
}

/// -ln(p) in 16.16 fixed point for a Q0.31 probability (<= 0 counts as 1).
inline int32_t loss_q16(int32_t p31) {
  const int64_t nats = (int64_t{31} * 65536 - log2_q16(p31 > 0 ? static_cast<uint32_t>(p31) : 1u)) * kLn2Q16;
  return static_cast<int32_t>((nats + (1 << 15)) >> 16);
}

}  // namespace train
