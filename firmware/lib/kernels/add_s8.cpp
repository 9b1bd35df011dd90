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
// the larger-scale input of every ADD (multiplier exactly one half, shift 0) the scaled value is
// exact without a multiply (is_half). The bounds hold here: an input is at most 255 * 2^left_shift
// (2^28 for TFLite's 20) and each scaled input at most half of that, so the sum stays below 2^28.

/// One MultiplyByQuantizedMultiplier of the fast loop, e >= 1.
inline int32_t scale_doubled(int32_t acc2, const ChannelScale& s) {
  return dsp::smmlar(acc2, s.multiplier, s.rounding + (acc2 >> 31)) >> s.shift;
}

/// The fast form of a TFLite (multiplier, shift) pair with e = -shift in [1, 31], or false.
bool fast_scale(int32_t multiplier, int32_t shift, ChannelScale& scale) {
  if (multiplier <= 0 || shift > -1 || shift < -31) return false;
  const int32_t e = -shift;
  scale = {multiplier, e, int32_t{1} << (e - 1)};
  return true;
}

/// The larger-scale input of an ADD has multiplier one half exactly (2^30, shift 0): its scaled
/// value is SRDHM((x + offset) 2^ls, 2^30) = (x + offset) 2^(ls - 1), no multiply at all.
bool is_half(int32_t multiplier, int32_t shift) { return multiplier == (int32_t{1} << 30) && shift == 0; }

/// The fast loop, input `a` with multiplier one half, input `b` any fast-form scale (or one half too
/// when kBothHalf). Doubled sums throughout: 2 * scaled(a) = (x + offset) 2^ls. kFullRange: the
/// activation clamps to [-128, 127] only, so SSAT alone clamps.
template <bool kBothHalf, bool kFullRange>
void add_half(const AddParams& p, const int8_t* a, int32_t a_offset, const int8_t* b, int32_t b_offset,
              const ChannelScale& sb, const ChannelScale& so, int32_t size, int8_t* output) {
  // Everything the loop reads, as locals: the byte stores below may alias anything behind p.
  const int32_t unit_a = int32_t{1} << p.left_shift;           // 2 * scaled(a) per step of a
  const int32_t unit_b = kBothHalf ? unit_a : 2 * unit_a;      // b: the input itself doubled
  const int32_t off_a = a_offset * unit_a, off_b = b_offset * unit_b;
  const int32_t output_offset = p.output_offset, lo = p.act.min, hi = p.act.max;
  const ChannelScale scale_b = sb, scale_out = so;
  for (const int8_t* const end = a + size; a != end; ++a, ++b, ++output) {
    const int32_t a2 = *a * unit_a + off_a;
    const int32_t b_term = *b * unit_b + off_b;
    const int32_t sum2 = kBothHalf ? a2 + b_term : a2 + 2 * scale_doubled(b_term, scale_b);
    const int32_t v = scale_doubled(sum2, scale_out) + output_offset;
    *output = kFullRange ? static_cast<int8_t>(dsp::ssat8(v)) : clamp_to_int8(v, lo, hi);
  }
}

template <bool kBothHalf>
void add_half_clamped(const AddParams& p, const int8_t* a, int32_t a_offset, const int8_t* b, int32_t b_offset,
                      const ChannelScale& sb, const ChannelScale& so, int32_t size, int8_t* output) {
  if (p.act.min == -128 && p.act.max == 127)
    add_half<kBothHalf, true>(p, a, a_offset, b, b_offset, sb, so, size, output);
  else
    add_half<kBothHalf, false>(p, a, a_offset, b, b_offset, sb, so, size, output);
}

/// TFLite's reference arithmetic of ADD (kSign 1) and SUB (kSign -1): both inputs shifted left,
/// scaled to the common scale, combined, scaled to the output.
template <int kSign>
int8_t add_or_sub_reference(const AddParams& p, int8_t a, int8_t b) {
  const int32_t shifted1 = (a + p.input1_offset) * (1 << p.left_shift);
  const int32_t shifted2 = (b + p.input2_offset) * (1 << p.left_shift);
  const int32_t scaled1 = multiply_by_quantized_multiplier(shifted1, p.input1_multiplier, p.input1_shift);
  const int32_t scaled2 = multiply_by_quantized_multiplier(shifted2, p.input2_multiplier, p.input2_shift);
  const int32_t sum = multiply_by_quantized_multiplier(scaled1 + kSign * scaled2, p.output_multiplier, p.output_shift);
  return clamp_to_int8(sum + p.output_offset, p.act.min, p.act.max);
}

/// TFLite's reference arithmetic, for parameters outside the fast form.
void add_reference(const AddParams& p, int32_t size, const int8_t* input1, const int8_t* input2, int8_t* output) {
  for (int32_t i = 0; i < size; ++i) output[i] = add_or_sub_reference<1>(p, input1[i], input2[i]);
}

}  // namespace

Status add_s8(const AddParams& p, int32_t size, const int8_t* input1, const int8_t* input2, int8_t* output) {
  // The fast loops need one input with multiplier one half (TFLite's Prepare always gives the
  // larger-scale input that); ADD commutes, so it becomes input `a`. Bounds: 255 * 2^(ls + 1) and
  // the doubled sum stay below 2^30, as output_stage.h's form requires.
  const bool half1 = is_half(p.input1_multiplier, p.input1_shift), half2 = is_half(p.input2_multiplier, p.input2_shift);
  ChannelScale sb{}, so{};
  const bool fast = p.left_shift >= 1 && p.left_shift <= 20 && p.input1_offset >= -127 && p.input1_offset <= 128 &&
                    p.input2_offset >= -127 && p.input2_offset <= 128 && (half1 || half2) &&
                    ((half1 && half2) || fast_scale(half1 ? p.input2_multiplier : p.input1_multiplier,
                                                    half1 ? p.input2_shift : p.input1_shift, sb)) &&
                    fast_scale(p.output_multiplier, p.output_shift, so);
  if (!fast)
    add_reference(p, size, input1, input2, output);
  else if (half1 && half2)
    add_half_clamped<true>(p, input1, p.input1_offset, input2, p.input2_offset, sb, so, size, output);
  else if (half1)
    add_half_clamped<false>(p, input1, p.input1_offset, input2, p.input2_offset, sb, so, size, output);
  else
    add_half_clamped<false>(p, input2, p.input2_offset, input1, p.input1_offset, sb, so, size, output);
  return Status::kOk;
}

Status sub_s8(const AddParams& p, const Dims& output_dims, const int8_t* input1, const BroadcastStrides& s1,
              const int8_t* input2, const BroadcastStrides& s2, int8_t* output) {
  const AddParams q = p;  // the byte stores may alias anything behind p
  broadcast_s8(output_dims, input1, s1, input2, s2, output,
               [&q](int8_t a, int8_t b) { return add_or_sub_reference<-1>(q, a, b); });
  return Status::kOk;
}

}  // namespace kernels
