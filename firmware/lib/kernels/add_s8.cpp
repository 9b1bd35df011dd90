#include "add_s8.h"

#include "dsp.h"
#include "output_stage.h"
#include "requantize.h"

namespace kernels {

namespace {

// TFLite's int8 ADD costs three MultiplyByQuantizedMultiplier calls per element (each a 64-bit
// doubling high multiply and a rounding shift). The fast loop uses output_stage.h's one-SMMLAR
// form for each: MultiplyByQuantizedMultiplier(acc, M, -e) == SMMLAR(2acc, M, R + sign) >> e with
// R = 2^(e-1) and sign = -1 for negative accumulators, exact for |acc| < 2^30, M > 0, e >= 1. With
// e == 0 there is no rounding shift, and SMMLAR(2acc, M, 0) alone is the doubling high multiply
// (floor((acc M + 2^30) / 2^31)); that is the larger-scale input of every ADD (multiplier exactly
// one half). The bounds hold here: an input is at most 255 * 2^left_shift (2^28 for TFLite's 20)
// and each scaled input at most half of that, so the sum stays below 2^28 too.

/// One MultiplyByQuantizedMultiplier of the fast loop; kSigned is false exactly when e == 0.
template <bool kSigned>
inline int32_t scale_doubled(int32_t acc2, const ChannelScale& s) {
  if (!kSigned) return dsp::smmlar(acc2, s.multiplier, 0);  // e == 0: no rounding shift
  return dsp::smmlar(acc2, s.multiplier, s.rounding + (acc2 >> 31)) >> s.shift;
}

/// The fast form of a TFLite (multiplier, shift) pair, or false where it does not apply.
bool fast_scale(int32_t multiplier, int32_t shift, ChannelScale& scale) {
  if (multiplier <= 0 || shift > 0 || shift < -31) return false;
  const int32_t e = -shift;
  scale = {multiplier, e, e == 0 ? 0 : int32_t{1} << (e - 1)};
  return true;
}

template <bool kSigned1, bool kSigned2>
void add_fast(const AddParams& p, const ChannelScale& s1, const ChannelScale& s2, const ChannelScale& so,
              int32_t size, const int8_t* input1, const int8_t* input2, int8_t* output) {
  // Everything the loop reads, as locals: the byte stores below may alias anything behind p.
  const int32_t doubled = int32_t{1} << (p.left_shift + 1);  // 2 * 2^left_shift
  const int32_t off1 = p.input1_offset * doubled, off2 = p.input2_offset * doubled;
  const int32_t output_offset = p.output_offset, lo = p.act.min, hi = p.act.max;
  const ChannelScale scale1 = s1, scale2 = s2, scale_out = so;
  for (const int8_t* const end = input1 + size; input1 != end; ++input1, ++input2, ++output) {
    const int32_t a1 = scale_doubled<kSigned1>(*input1 * doubled + off1, scale1);
    const int32_t a2 = scale_doubled<kSigned2>(*input2 * doubled + off2, scale2);
    const int32_t sum = scale_doubled<true>(2 * (a1 + a2), scale_out) + output_offset;
    *output = clamp_to_int8(sum, lo, hi);
  }
}

/// TFLite's reference arithmetic, for parameters outside the fast form.
void add_reference(const AddParams& p, int32_t size, const int8_t* input1, const int8_t* input2, int8_t* output) {
  for (int32_t i = 0; i < size; ++i) {
    const int32_t shifted1 = (input1[i] + p.input1_offset) * (1 << p.left_shift);
    const int32_t shifted2 = (input2[i] + p.input2_offset) * (1 << p.left_shift);
    const int32_t scaled1 = multiply_by_quantized_multiplier(shifted1, p.input1_multiplier, p.input1_shift);
    const int32_t scaled2 = multiply_by_quantized_multiplier(shifted2, p.input2_multiplier, p.input2_shift);
    const int32_t sum = multiply_by_quantized_multiplier(scaled1 + scaled2, p.output_multiplier, p.output_shift);
    output[i] = clamp_to_int8(sum + p.output_offset, p.act.min, p.act.max);
  }
}

}  // namespace

Status add_s8(const AddParams& p, int32_t size, const int8_t* input1, const int8_t* input2, int8_t* output) {
  ChannelScale s1, s2, so;
  // 255 * 2^(left_shift + 1) must stay below 2^30 (the doubled accumulator bound).
  const bool fast = p.left_shift >= 0 && p.left_shift <= 20 && p.input1_offset >= -127 && p.input1_offset <= 128 &&
                    p.input2_offset >= -127 && p.input2_offset <= 128 &&
                    fast_scale(p.input1_multiplier, p.input1_shift, s1) &&
                    fast_scale(p.input2_multiplier, p.input2_shift, s2) &&
                    fast_scale(p.output_multiplier, p.output_shift, so) && so.shift >= 1;
  if (!fast) {
    add_reference(p, size, input1, input2, output);
  } else if (s1.shift != 0 && s2.shift != 0) {
    add_fast<true, true>(p, s1, s2, so, size, input1, input2, output);
  } else if (s1.shift != 0) {
    add_fast<true, false>(p, s1, s2, so, size, input1, input2, output);
  } else if (s2.shift != 0) {
    add_fast<false, true>(p, s1, s2, so, size, input1, input2, output);
  } else {
    add_fast<false, false>(p, s1, s2, so, size, input1, input2, output);
  }
  return Status::kOk;
}

}  // namespace kernels
