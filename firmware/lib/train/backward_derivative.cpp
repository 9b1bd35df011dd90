#include "backward_derivative.h"

#include "numerics.h"

namespace train {

int derivative_input_error(const int32_t* table, int32_t size, const int8_t* x, const int8_t* e, int8_t* in_error) {
  const int32_t* d = table + 128;  // indexed by the signed input
  uint32_t peak = 0;
  for (int32_t i = 0; i < size; ++i) {
    const uint32_t m = magnitude(e[i] * d[x[i]]);
    peak = m > peak ? m : peak;
  }
  const int shift = normalise_shift(peak);
  for (int32_t i = 0; i < size; ++i) in_error[i] = normalised(e[i] * d[x[i]], shift);
  return shift;
}

}  // namespace train
