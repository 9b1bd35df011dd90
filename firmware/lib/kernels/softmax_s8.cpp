#include "softmax_s8.h"

#include "requantize.h"

namespace kernels {

namespace {

// Fixed point in the style of gemmlowp: a raw int32 with a given number of integer bits.
// Products of two values use saturating_rounding_doubling_high_mul; their integer bits add.
constexpr int kScaledDiffIntegerBits = 5;   // exp() input: Q5.26
constexpr int kAccumulationIntegerBits = 12;  // sum of exps: Q12.19

int32_t mul(int32_t a, int32_t b) { return saturating_rounding_doubling_high_mul(a, b); }

/// x * 2^exponent with saturation (exponent > 0) or rounding (exponent < 0).
int32_t saturating_rounding_multiply_by_pot(int32_t x, int exponent) {
  if (exponent < 0) return rounding_divide_by_pot(x, -exponent);
  if (exponent == 0) return x;
  const int32_t threshold = static_cast<int32_t>((1u << (31 - exponent)) - 1);
  if (x > threshold) return INT32_MAX;
  if (x < -threshold) return INT32_MIN;
  return static_cast<int32_t>(static_cast<uint32_t>(x) << exponent);
}

/// exp(a) for a in [-1/4, 0), Q0.31 in and out (Taylor expansion around -1/8).
int32_t exp_on_interval_between_negative_one_quarter_and_0_excl(int32_t a) {
  constexpr int32_t kConstantTerm = 1895147668;    // exp(-1/8)
  constexpr int32_t kConstantOneOverThree = 715827883;
  const int32_t x = a + (1 << 28);                 // a + 1/8
  const int32_t x2 = mul(x, x);
  const int32_t x3 = mul(x2, x);
  const int32_t x4 = mul(x2, x2);
  const int32_t x4_over_4 = saturating_rounding_multiply_by_pot(x4, -2);
  const int32_t poly = saturating_rounding_multiply_by_pot(mul(x4_over_4 + x3, kConstantOneOverThree) + x2, -1);
  return kConstantTerm + mul(kConstantTerm, x + poly);
}

/// exp(a) for a <= 0, a in Q5.26, result in Q0.31.
int32_t exp_on_negative_values(int32_t a) {
  constexpr int kFractionalBits = 31 - kScaledDiffIntegerBits;
  constexpr int32_t kOneQuarter = 1 << (kFractionalBits - 2);
  const int32_t mask = kOneQuarter - 1;
  const int32_t a_mod_quarter_minus_one_quarter = (a & mask) - kOneQuarter;
  int32_t result = exp_on_interval_between_negative_one_quarter_and_0_excl(
      saturating_rounding_multiply_by_pot(a_mod_quarter_minus_one_quarter, kScaledDiffIntegerBits));
  const int32_t remainder = a_mod_quarter_minus_one_quarter - a;
  // exp(-2^k) for k = -2 .. 4, applied for each bit of the remainder (a barrel shifter).
  constexpr int32_t kMultipliers[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
  for (int k = -2; k <= 4; ++k) {
    if (remainder & (1 << (kFractionalBits + k))) result = mul(result, kMultipliers[k + 2]);
  }
  return a == 0 ? INT32_MAX : result;
}

/// 1 / (1 + x) for x in [0, 1), Q0.31 in and out (Newton-Raphson, three iterations).
int32_t one_over_one_plus_x_for_x_in_0_1(int32_t a) {
  // RoundingHalfSum(a, One): (a + INT32_MAX + sign) / 2, truncating.
  const int64_t sum = static_cast<int64_t>(a) + INT32_MAX;
  const int32_t half_denominator = static_cast<int32_t>((sum + (sum >= 0 ? 1 : -1)) / 2);
  constexpr int32_t kConstant48Over17 = 1515870810;     // Q2.29
  constexpr int32_t kConstantNeg32Over17 = -1010580540;  // Q2.29
  constexpr int32_t kOneQ2 = 1 << 29;
  int32_t x = kConstant48Over17 + mul(half_denominator, kConstantNeg32Over17);
  for (int i = 0; i < 3; ++i) {
    const int32_t half_denominator_times_x = mul(half_denominator, x);
    const int32_t one_minus = kOneQ2 - half_denominator_times_x;
    x = x + saturating_rounding_multiply_by_pot(mul(x, one_minus), 2);  // Q4.27 -> Q2.29
  }
  return saturating_rounding_multiply_by_pot(x, 1);  // x / 2 in Q1.30 read as Q0.31
}

int32_t count_leading_zeros(uint32_t x) { return x == 0 ? 32 : __builtin_clz(x); }

/// 1 / x for x in Q12.19; returns Q0.31 and the extra shift (num_bits_over_unit).
int32_t reciprocal(int32_t x, int32_t* num_bits_over_unit) {
  const int32_t headroom_plus_one = count_leading_zeros(static_cast<uint32_t>(x));
  *num_bits_over_unit = kAccumulationIntegerBits - headroom_plus_one;
  const int32_t shifted_sum_minus_one =
      static_cast<int32_t>((static_cast<uint32_t>(x) << headroom_plus_one) - (1u << 31));
  return one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one);
}

int32_t rescaled_diff(const SoftmaxParams& p, int32_t diff) {
  // MultiplyByQuantizedMultiplierGreaterThanOne
  return saturating_rounding_doubling_high_mul(static_cast<int32_t>(static_cast<uint32_t>(diff) << p.input_left_shift),
                                               p.input_multiplier);
}

/// A row's maximum and the reciprocal of its sum of exps (Q12.19), shared by both outputs.
struct RowScale {
  int32_t max_in_row;
  int32_t shifted_scale;
  int32_t num_bits_over_unit;
};

RowScale row_scale(const SoftmaxParams& p, int32_t depth, const int8_t* x) {
  RowScale r{-128, 0, 0};
  for (int32_t c = 0; c < depth; ++c) r.max_in_row = x[c] > r.max_in_row ? x[c] : r.max_in_row;
  int32_t sum_of_exps = 0;  // Q12.19
  for (int32_t c = 0; c < depth; ++c) {
    const int32_t diff = x[c] - r.max_in_row;
    if (diff >= p.diff_min)
      sum_of_exps += rounding_divide_by_pot(exp_on_negative_values(rescaled_diff(p, diff)), kAccumulationIntegerBits);
  }
  r.shifted_scale = reciprocal(sum_of_exps, &r.num_bits_over_unit);
  return r;
}

/// exp(x[c] - max) / sum, Q0.31 before the final rounding shift by `extra` bits; -1 when the
/// difference is below diff_min (exp() = 0).
int32_t scaled_probability(const SoftmaxParams& p, const RowScale& r, int8_t x, int32_t extra) {
  const int32_t diff = x - r.max_in_row;
  if (diff < p.diff_min) return -1;
  return rounding_divide_by_pot(mul(r.shifted_scale, exp_on_negative_values(rescaled_diff(p, diff))),
                                r.num_bits_over_unit + extra);
}

}  // namespace

Status softmax_s8(const SoftmaxParams& p, int32_t rows, int32_t depth, const int8_t* input, int8_t* output) {
  if (rows <= 0 || depth <= 0) return Status::kBadShape;
  for (int32_t r = 0; r < rows; ++r) {
    const int8_t* x = input + r * depth;
    int8_t* y = output + r * depth;
    const RowScale scale = row_scale(p, depth, x);
    for (int32_t c = 0; c < depth; ++c) {
      const int32_t unsat = scaled_probability(p, scale, x[c], 31 - 8);
      y[c] = unsat < 0 ? int8_t{-128} : clamp_to_int8(unsat - 128, -128, 127);
    }
  }
  return Status::kOk;
}

Status softmax_q31(const SoftmaxParams& p, int32_t depth, const int8_t* x, int32_t* p31) {
  if (depth <= 0) return Status::kBadShape;
  const RowScale scale = row_scale(p, depth, x);
  for (int32_t c = 0; c < depth; ++c) {
    const int32_t q = scaled_probability(p, scale, x[c], 0);
    p31[c] = q < 0 ? 0 : q;
  }
  return Status::kOk;
}

}  // namespace kernels
