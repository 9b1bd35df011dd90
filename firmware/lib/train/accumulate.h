// The sum of two contributions to one tensor's error (README.md beside this file, "The backward
// program"; numpy twin: quantize/training/backward.py accumulate): where a tensor feeds several
// ops (a residual block's input), the errors coming back through each add.
#pragma once

#include <cstdint>

namespace train {

/// Shifts beyond which the finer error is rounded rather than the coarser one widened:
/// 127 * 2^24 + 127 < 2^31.
constexpr int kAccumulateMaxShift = 24;

/// a = normalise(a * 2^-ka + b * 2^-kb) in place, n elements (b does not alias a); returns a's new
/// exponent.
int32_t accumulate_errors(int8_t* a, int32_t ka, const int8_t* b, int32_t kb, int32_t n);

}  // namespace train
