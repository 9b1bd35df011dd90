// The element loop of two-input int8 ops with broadcasting (MUL, SUB): TFLite's 4-D broadcast,
// each input of the output's NHWC shape or 1 along a dimension (its stride there is then 0).
#pragma once

#include "kernel_types.h"

namespace kernels {

/// An input's strides (elements) against the output's shape: 0 along its broadcast dimensions.
struct BroadcastStrides {
  int32_t n, h, w, c;
};

/// The strides of an input of dims `in` read at every position of `out`; false unless each of its
/// dimensions is the output's or 1.
inline bool broadcast_strides(const Dims& in, const Dims& out, BroadcastStrides& strides) {
  const int32_t in_dims[4] = {in.n, in.h, in.w, in.c}, out_dims[4] = {out.n, out.h, out.w, out.c};
  int32_t s[4];
  int32_t stride = 1;
  for (int d = 3; d >= 0; --d) {
    if (in_dims[d] != out_dims[d] && in_dims[d] != 1) return false;
    s[d] = in_dims[d] == 1 ? 0 : stride;
    stride *= in_dims[d];
  }
  strides = {s[0], s[1], s[2], s[3]};
  return true;
}

/// output[i] = f(a[i'], b[i'']) over the output [N, H, W, C], each input read through its strides.
/// A contiguous input (the same shape as the output) reads straight through.
template <typename F>
void broadcast_s8(const Dims& out, const int8_t* a, const BroadcastStrides& sa, const int8_t* b,
                  const BroadcastStrides& sb, int8_t* output, F f) {
  for (int32_t n = 0; n < out.n; ++n)
    for (int32_t h = 0; h < out.h; ++h)
      for (int32_t w = 0; w < out.w; ++w) {
        const int8_t* pa = a + n * sa.n + h * sa.h + w * sa.w;
        const int8_t* pb = b + n * sb.n + h * sb.h + w * sb.w;
        for (int32_t c = 0; c < out.c; ++c) *output++ = f(pa[c * sa.c], pb[c * sb.c]);
      }
}

}  // namespace kernels
