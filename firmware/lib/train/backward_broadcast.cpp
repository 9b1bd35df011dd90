#include "backward_broadcast.h"

#include "numerics.h"

namespace train {

namespace {

/// The sum of term(p, n, h, w, c) over the output elements (n, h, w, c), flat index p, that read
/// operand element (n, h, w, c): every output index along the operand's broadcast dimensions.
template <typename Term>
int32_t broadcast_sum(const kernels::Dims& out, const kernels::Dims& operand, int32_t n, int32_t h, int32_t w,
                      int32_t c, Term term) {
  const bool bn = operand.n != out.n, bh = operand.h != out.h, bw = operand.w != out.w, bc = operand.c != out.c;
  int32_t sum = 0;
  for (int32_t on = bn ? 0 : n; on < (bn ? out.n : n + 1); ++on)
    for (int32_t oh = bh ? 0 : h; oh < (bh ? out.h : h + 1); ++oh)
      for (int32_t ow = bw ? 0 : w; ow < (bw ? out.w : w + 1); ++ow)
        for (int32_t oc = bc ? 0 : c; oc < (bc ? out.c : c + 1); ++oc)
          sum += term(((on * out.h + oh) * out.w + ow) * out.c + oc, on, oh, ow, oc);
  return sum;
}

}  // namespace

int mul_input_error(const kernels::Dims& out, const kernels::Dims& operand, const int8_t* e, const int8_t* other,
                    const kernels::BroadcastStrides& s, int32_t other_zero_point, MulFactor f, int8_t* in_error) {
  auto term = [&](int32_t p, int32_t n, int32_t h, int32_t w, int32_t c) {
    const int32_t x = other[n * s.n + h * s.h + w * s.w + c * s.c] - other_zero_point;
    return channel_scaled(e[p], f.multiplier) * x;
  };
  return gather_normalised(
      operand,
      [&](int32_t n, int32_t h, int32_t w, int32_t c) { return broadcast_sum(out, operand, n, h, w, c, term); },
      in_error);
}

int sub_input_error(const kernels::Dims& out, const kernels::Dims& operand, const int8_t* e, int32_t sign,
                    int8_t* in_error) {
  auto term = [&](int32_t p, int32_t, int32_t, int32_t, int32_t) { return sign * e[p]; };
  return gather_normalised(
      operand,
      [&](int32_t n, int32_t h, int32_t w, int32_t c) { return broadcast_sum(out, operand, n, h, w, c, term); },
      in_error);
}

}  // namespace train
