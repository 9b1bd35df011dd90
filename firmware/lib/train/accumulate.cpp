#include "accumulate.h"

#include "numerics.h"

namespace train {

namespace {

/// The aligned sum of one element pair: (coarse << s) + the fine element rounded right by r.
inline int32_t aligned_sum(int8_t coarse, int8_t fine, int s, int r) {
  const int32_t f = r > 0 ? ((fine + (1 << (r - 1))) >> r) : fine;
  return static_cast<int32_t>(coarse) * (int32_t{1} << s) + f;
}

}  // namespace

int32_t accumulate_errors(int8_t* a, int32_t ka, const int8_t* b, int32_t kb, int32_t n) {
  // The coarser error (smaller exponent) is widened to the finer one's, by at most 24 bits.
  const bool a_coarse = ka <= kb;
  const int32_t kc = a_coarse ? ka : kb;
  const int32_t d = a_coarse ? kb - ka : ka - kb;
  const int s = d < kAccumulateMaxShift ? static_cast<int>(d) : kAccumulateMaxShift;
  const int32_t r32 = d - s;
  const int r = r32 < 31 ? static_cast<int>(r32) : 31;  // int8 >> 8 or more is already 0 or -1
  uint32_t peak = 0;
  for (int32_t i = 0; i < n; ++i) {
    const uint32_t m = magnitude(a_coarse ? aligned_sum(a[i], b[i], s, r) : aligned_sum(b[i], a[i], s, r));
    peak = m > peak ? m : peak;
  }
  const int shift = normalise_shift(peak);
  for (int32_t i = 0; i < n; ++i)
    a[i] = normalised(a_coarse ? aligned_sum(a[i], b[i], s, r) : aligned_sum(b[i], a[i], s, r), shift);
  return kc + s - shift;
}

}  // namespace train
