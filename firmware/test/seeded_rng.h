// Seeded random numbers for the native tests (shared by the test programs).
#pragma once

#include <cstdint>

namespace unit_test {

/// splitmix64: a fixed seed gives the same cases on every machine.
struct Rng {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint32_t u32() { return static_cast<uint32_t>(next() >> 32); }
  /// Uniform in [lo, hi] (inclusive).
  int32_t range(int32_t lo, int32_t hi) {
    return static_cast<int32_t>(lo + static_cast<int64_t>(next() % (static_cast<uint64_t>(hi - lo) + 1)));
  }
};

}  // namespace unit_test
