// Unit tests of the int8 kernels' arithmetic building blocks on the host build:
// - output_stage.h (the one-SMMLAR requantization of the tiled kernels) against requantize.h (the
//   TFLite reference), on seeded random cases and on every boundary: shift range ends, accumulators
//   at +-(2^30 - 1), multipliers at both ends of their range, and both rounding ties;
// - the portable twins in dsp.h against formulas written independently of them (byte arrays,
//   64-bit products), so the native build's loops compute what the DSP instructions compute;
// - add_s8's fast loop against TFLite's ADD arithmetic on every pair of int8 inputs.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <utility>

#include "../seeded_rng.h"
#include "../unit_test.h"
#include "add_s8.h"
#include "dsp.h"
#include "output_stage.h"
#include "requantize.h"

namespace {

using kernels::OutputPath;
using kernels::OutputStage;
using unit_test::Rng;

constexpr int32_t kAccLimit = (int32_t{1} << 30) - 1;  // |acc| < 2^30: what the tiled kernels allow

/// TFLite's answer for one accumulator (requantize.h, the reference every kernel must match).
int8_t reference_output(int32_t acc, int32_t multiplier, int32_t shift, int32_t offset, int32_t lo, int32_t hi) {
  return kernels::clamp_to_int8(kernels::multiply_by_quantized_multiplier(acc, multiplier, shift) + offset, lo, hi);
}

/// The output stage's answer for one accumulator, one channel, on path kPath.
template <OutputPath kPath>
int8_t stage_output(int32_t acc, int32_t multiplier, int32_t shift, int32_t offset, int32_t lo, int32_t hi) {
  const OutputStage stage{{&multiplier, &shift}, offset, {lo, hi}};
  return stage.apply<kPath>(stage.channel(0, kPath), 2 * acc);
}

/// The last mismatching case, for the failure message.
char g_mismatch[200];

/// Compares one case; on a mismatch describes it in g_mismatch and returns false.
template <OutputPath kPath>
bool matches(int32_t acc, int32_t multiplier, int32_t shift, int32_t offset, int32_t lo = -128, int32_t hi = 127) {
  const int8_t want = reference_output(acc, multiplier, shift, offset, lo, hi);
  const int8_t got = stage_output<kPath>(acc, multiplier, shift, offset, lo, hi);
  if (want == got) return true;
  std::snprintf(g_mismatch, sizeof g_mismatch, "acc=%ld multiplier=%ld shift=%ld offset=%ld range=[%ld, %ld] path=%d: want %d got %d\n",
              static_cast<long>(acc), static_cast<long>(multiplier), static_cast<long>(shift),
              static_cast<long>(offset), static_cast<long>(lo), static_cast<long>(hi), static_cast<int>(kPath), want,
              got);
  return false;
}

/// Fails the test with the mismatching case (the first one found, with its values).
#define EXPECT_MATCH(call)                                    \
  do {                                                        \
    if (!(call)) {                                            \
      ::unit_test::fail(__FILE__, __LINE__, g_mismatch);      \
      return;                                                 \
    }                                                         \
  } while (0)

/// The fast path is taken when choose_output_path says so: check that it does for these.
bool fast_path_chosen(int32_t multiplier, int32_t shift, int32_t offset, OutputPath want) {
  const OutputStage stage{{&multiplier, &shift}, offset, {-128, 127}};
  return kernels::choose_output_path(stage, 1) == want;
}

void test_fast_output_stage_matches_reference_on_random_cases() {
  Rng rng{0x6D637574726169ull};
  for (int32_t i = 0; i < 4000000; ++i) {
    const int32_t shift = -rng.range(1, kernels::kMaxFastShift);
    // TFLite multipliers are in [2^30, 2^31) (QuantizeMultiplier); every fourth case any non-negative.
    const int32_t multiplier = i % 4 == 0 ? rng.range(0, INT32_MAX) : rng.range(int32_t{1} << 30, INT32_MAX);
    // Accumulators across all magnitudes: a random bit length, then a random value of that length.
    const int32_t bits = rng.range(0, 30);
    const int32_t magnitude = static_cast<int32_t>(rng.u32() & ((uint32_t{1} << bits) - 1u));
    const int32_t acc = rng.u32() & 1u ? -magnitude : magnitude;
    const int32_t offset = rng.range(-128, 127);
    EXPECT_MATCH(matches<OutputPath::kFast>(acc, multiplier, shift, offset));
    EXPECT_MATCH(matches<OutputPath::kFastRelu>(acc, multiplier, shift, -128));
  }
}

void test_fast_output_stage_matches_reference_at_boundaries() {
  const int32_t multipliers[] = {0, 1, (int32_t{1} << 30) - 1, int32_t{1} << 30, (int32_t{1} << 30) + 1, 1518500250,
                                 INT32_MAX - 1, INT32_MAX};
  const int32_t offsets[] = {-128, -127, -1, 0, 1, 126, 127};
  for (int32_t e = 1; e <= kernels::kMaxFastShift; ++e) {
    EXPECT_TRUE(fast_path_chosen(int32_t{1} << 30, -e, 0, OutputPath::kFast));
    EXPECT_TRUE(fast_path_chosen(int32_t{1} << 30, -e, -128, OutputPath::kFastRelu));
    for (const int32_t m : multipliers) {
      for (const int32_t offset : offsets) {
        // Accumulators at the ends of the allowed range and around zero.
        const int32_t ends[] = {kAccLimit, kAccLimit - 1, -kAccLimit, -kAccLimit + 1, 0, 1, -1, 2, -2};
        for (const int32_t acc : ends) {
          EXPECT_MATCH(matches<OutputPath::kFast>(acc, m, -e, offset));
          if (offset == -128) EXPECT_MATCH(matches<OutputPath::kFastRelu>(acc, m, -e, offset));
        }
      }
    }
    // Rounding ties. With multiplier 2^30 the doubling high multiply is round(acc / 2): an odd acc
    // is a tie of the first rounding; acc = (2j + 1) * 2^e makes h = (2j + 1) * 2^(e - 1), a tie of
    // the rounding shift. Neighbours +-1 and +-2 of each, both signs, from small j to the range end.
    const int32_t half = int32_t{1} << 30;
    for (int32_t j = 0; j < 64; ++j) {
      const int64_t small_tie = static_cast<int64_t>(2 * j + 1) << e;
      const int64_t large_tie = ((static_cast<int64_t>(kAccLimit) >> e) - 2 * j - 1) << e;
      const int64_t ties[] = {small_tie, large_tie};
      for (const int64_t tie : ties) {
        for (int32_t d = -2; d <= 2; ++d) {
          for (int32_t sign = -1; sign <= 1; sign += 2) {
            const int64_t acc64 = sign * (tie + d);
            if (acc64 > kAccLimit || acc64 < -kAccLimit) continue;
            const int32_t acc = static_cast<int32_t>(acc64);
            EXPECT_MATCH(matches<OutputPath::kFast>(acc, half, -e, 0));
            EXPECT_MATCH(matches<OutputPath::kFast>(acc, half, -e, 5));
            EXPECT_MATCH(matches<OutputPath::kFastRelu>(acc, half, -e, -128));
            EXPECT_MATCH(matches<OutputPath::kFast>(acc, INT32_MAX, -e, -3));
          }
        }
      }
    }
  }
  // Outside the fast range the reference path is chosen.
  EXPECT_TRUE(fast_path_chosen(int32_t{1} << 30, 0, 0, OutputPath::kReference));
  EXPECT_TRUE(fast_path_chosen(int32_t{1} << 30, -kernels::kMaxFastShift - 1, 0, OutputPath::kReference));
  EXPECT_TRUE(fast_path_chosen(-1, -5, 0, OutputPath::kReference));
}

void test_reference_output_stage_is_requantize() {
  Rng rng{42};
  for (int32_t i = 0; i < 1000000; ++i) {
    const int32_t shift = rng.range(-31, 8);
    const int32_t multiplier = rng.range(int32_t{1} << 30, INT32_MAX);
    const int32_t acc = rng.range(-kAccLimit, kAccLimit);
    const int32_t offset = rng.range(-128, 127);
    const int32_t lo = rng.range(-128, 0), hi = rng.range(lo, 127);
    EXPECT_MATCH(matches<OutputPath::kReference>(acc, multiplier, shift, offset, lo, hi));
  }
}

void test_doubled_accumulator_bound() {
  const int32_t ok[] = {kernels::kMaxFastBias, -kernels::kMaxFastBias, 0};
  const int32_t too_big[] = {0, kernels::kMaxFastBias + 1};
  EXPECT_TRUE(kernels::doubled_accumulator_fits(ok, 3, kernels::kMaxFastDepth - 1));
  EXPECT_TRUE(!kernels::doubled_accumulator_fits(ok, 3, kernels::kMaxFastDepth));
  EXPECT_TRUE(!kernels::doubled_accumulator_fits(too_big, 2, 1));
  EXPECT_TRUE(kernels::doubled_accumulator_fits(nullptr, 5, 16));
  // The largest accumulator the bound admits, doubled, still fits in int32.
  const int64_t worst = int64_t{kernels::kMaxFastBias} + int64_t{kernels::kMaxFastDepth - 1} * 255 * 128;
  EXPECT_TRUE(2 * worst <= INT32_MAX);
}

// ---- dsp.h twins -------------------------------------------------------------------------------

int8_t byte_of(uint32_t word, int i) {
  const uint8_t b = static_cast<uint8_t>(word >> (8 * i));
  int8_t s;
  std::memcpy(&s, &b, 1);
  return s;
}

int16_t lane_of(uint32_t word, int i) {
  const uint16_t h = static_cast<uint16_t>(word >> (16 * i));
  int16_t s;
  std::memcpy(&s, &h, 2);
  return s;
}

uint32_t lanes(int32_t lane0, int32_t lane1) {
  const int16_t l[2] = {static_cast<int16_t>(lane0), static_cast<int16_t>(lane1)};
  uint32_t w;
  std::memcpy(&w, l, 4);
  return w;
}

void test_dsp_byte_widening_twins() {
  Rng rng{7};
  for (int32_t i = 0; i < 1000000; ++i) {
    const uint32_t a = rng.u32(), b = rng.u32();
    EXPECT_EQ_U32(lanes(byte_of(b, 0), byte_of(b, 2)), kernels::dsp::sxtb16(b));
    EXPECT_EQ_U32(lanes(byte_of(b, 1), byte_of(b, 3)), kernels::dsp::sxtb16_ror8(b));
    // SXTAB16 adds per lane modulo 2^16.
    EXPECT_EQ_U32(lanes(lane_of(a, 0) + byte_of(b, 0), lane_of(a, 1) + byte_of(b, 2)), kernels::dsp::sxtab16(a, b));
    EXPECT_EQ_U32(lanes(lane_of(a, 0) + byte_of(b, 1), lane_of(a, 1) + byte_of(b, 3)),
                  kernels::dsp::sxtab16_ror8(a, b));
    EXPECT_EQ_U32(lanes(lane_of(a, 0), lane_of(a, 1)), a);
    EXPECT_EQ_U32(static_cast<uint32_t>(lane_of(a, 0)), static_cast<uint32_t>(kernels::dsp::bottom(a)));
    EXPECT_EQ_U32(static_cast<uint32_t>(lane_of(a, 1)), static_cast<uint32_t>(kernels::dsp::top(a)));
    EXPECT_EQ_U32(a, kernels::dsp::pack(lane_of(a, 0), lane_of(a, 1)));
  }
}

/// SMMLAR: the high word of acc * 2^32 + a * b + 2^31, from an unsigned 64-bit sum (mod 2^64).
uint32_t smmlar_formula(int32_t a, int32_t b, int32_t acc) {
  const uint64_t sum = (static_cast<uint64_t>(static_cast<uint32_t>(acc)) << 32) +
                       static_cast<uint64_t>(static_cast<int64_t>(a) * b) + (uint64_t{1} << 31);
  return static_cast<uint32_t>(sum >> 32);
}

void test_dsp_multiply_twins() {
  Rng rng{11};
  for (int32_t i = 0; i < 1000000; ++i) {
    const uint32_t x = rng.u32(), y = rng.u32();
    const int32_t acc = static_cast<int32_t>(rng.u32());
    const int64_t x0 = lane_of(x, 0), x1 = lane_of(x, 1), y0 = lane_of(y, 0), y1 = lane_of(y, 1);
    // Results wrap modulo 2^32 like the instructions (the sum of two products can exceed int32).
    const auto wrap = [](int64_t v) { return static_cast<uint32_t>(static_cast<uint64_t>(v)); };
    EXPECT_EQ_U32(wrap(acc + x0 * y0 + x1 * y1), static_cast<uint32_t>(kernels::dsp::smlad(x, y, acc)));
    EXPECT_EQ_U32(wrap(acc + x0 * y0), static_cast<uint32_t>(kernels::dsp::smlabb(x, y, acc)));
    EXPECT_EQ_U32(wrap(acc + x0 * y1), static_cast<uint32_t>(kernels::dsp::smlabt(x, y, acc)));
    EXPECT_EQ_U32(wrap(acc + x1 * y0), static_cast<uint32_t>(kernels::dsp::smlatb(x, y, acc)));
    EXPECT_EQ_U32(wrap(acc + x1 * y1), static_cast<uint32_t>(kernels::dsp::smlatt(x, y, acc)));
    const int32_t a = static_cast<int32_t>(x), b = static_cast<int32_t>(y);
    EXPECT_EQ_U32(smmlar_formula(a, b, acc), static_cast<uint32_t>(kernels::dsp::smmlar(a, b, acc)));
    const int32_t v = acc >> rng.range(0, 31);
    EXPECT_EQ_U32(static_cast<uint32_t>(v < -128 ? -128 : v > 127 ? 127 : v),
                  static_cast<uint32_t>(kernels::dsp::ssat8(v)));
  }
  const int32_t extremes[] = {INT32_MIN, -129, -128, -127, 0, 126, 127, 128, INT32_MAX};
  for (const int32_t v : extremes)
    EXPECT_EQ_U32(static_cast<uint32_t>(v < -128 ? -128 : v > 127 ? 127 : v),
                  static_cast<uint32_t>(kernels::dsp::ssat8(v)));
  for (const int32_t a : extremes)
    for (const int32_t b : extremes)
      for (const int32_t acc : extremes)
        EXPECT_EQ_U32(smmlar_formula(a, b, acc), static_cast<uint32_t>(kernels::dsp::smmlar(a, b, acc)));
}

void test_dsp_loads_and_2x2_block() {
  Rng rng{13};
  alignas(8) uint32_t x[4 * 8], w[4 * 8];
  for (uint32_t& v : x) v = rng.u32();
  for (uint32_t& v : w) v = rng.u32();
  const kernels::dsp::Pair p = kernels::dsp::read_pair(x, 6);
  EXPECT_EQ_U32(x[6], p.first);
  EXPECT_EQ_U32(x[7], p.second);
  const unsigned char bytes[] = {1, 2, 3, 4, 5};
  EXPECT_EQ_U32(0x05040302u, kernels::dsp::read_u32(bytes + 1));
  for (int32_t groups = 1; groups <= 8; ++groups) {
    const uint32_t* cursor = x;
    const int32_t start[2] = {1, 2};
    const kernels::dsp::Acc2x2 a = groups % 2 != 0 ? kernels::dsp::smlad_2x2<true>(cursor, w, groups, start)
                                                   : kernels::dsp::smlad_2x2<false>(cursor, w, groups, start);
    EXPECT_TRUE(cursor == x + 4 * groups);
    // Scalar dot products over the lanes: group g of pixel p is words 4g + 2p, 4g + 2p + 1.
    int64_t want[2][2] = {{1, 2}, {1, 2}};
    for (int32_t g = 0; g < groups; ++g)
      for (int p = 0; p < 2; ++p)
        for (int c = 0; c < 2; ++c)
          for (int word = 0; word < 2; ++word)
            for (int lane = 0; lane < 2; ++lane)
              want[p][c] += int64_t{lane_of(x[4 * g + 2 * p + word], lane)} * lane_of(w[4 * g + 2 * c + word], lane);
    const auto wrap = [](int64_t v) { return static_cast<uint32_t>(static_cast<uint64_t>(v)); };
    EXPECT_EQ_U32(wrap(want[0][0]), static_cast<uint32_t>(a.a00));
    EXPECT_EQ_U32(wrap(want[0][1]), static_cast<uint32_t>(a.a01));
    EXPECT_EQ_U32(wrap(want[1][0]), static_cast<uint32_t>(a.a10));
    EXPECT_EQ_U32(wrap(want[1][1]), static_cast<uint32_t>(a.a11));
  }
}


/// TFLite's int8 ADD for one pair of inputs, composed from requantize.h.
int8_t reference_add(const kernels::AddParams& p, int8_t x1, int8_t x2) {
  using kernels::multiply_by_quantized_multiplier;
  const int32_t scaled1 =
      multiply_by_quantized_multiplier((x1 + p.input1_offset) * (1 << p.left_shift), p.input1_multiplier, p.input1_shift);
  const int32_t scaled2 =
      multiply_by_quantized_multiplier((x2 + p.input2_offset) * (1 << p.left_shift), p.input2_multiplier, p.input2_shift);
  const int32_t sum = multiply_by_quantized_multiplier(scaled1 + scaled2, p.output_multiplier, p.output_shift);
  return kernels::clamp_to_int8(sum + p.output_offset, p.act.min, p.act.max);
}

void test_add_matches_reference_on_every_input_pair() {
  Rng rng{17};
  static int8_t x1[65536], x2[65536], out[65536];
  for (int32_t i = 0; i < 65536; ++i) {
    x1[i] = static_cast<int8_t>(i & 0xFF);
    x2[i] = static_cast<int8_t>(i >> 8);
  }
  const auto multiplier = [&rng] { return rng.range(int32_t{1} << 30, INT32_MAX); };
  for (int32_t trial = 0; trial < 60; ++trial) {
    kernels::AddParams p{};
    p.input1_offset = rng.range(-127, 128);
    p.input2_offset = rng.range(-127, 128);
    p.output_offset = rng.range(-128, 127);
    p.left_shift = 20;
    // The larger-scale input has multiplier one half exactly (shift 0), as TFLite's Prepare gives;
    // in a third of the trials both do (equal scales), in a third neither (outside the fast form's
    // usual case, but still exact).
    p.input1_multiplier = int32_t{1} << 30;
    p.input1_shift = 0;
    p.input2_multiplier = trial % 3 == 1 ? int32_t{1} << 30 : multiplier();
    p.input2_shift = trial % 3 == 1 ? 0 : rng.range(-8, -1);
    if (trial % 3 == 2) p.input1_multiplier = multiplier(), p.input1_shift = rng.range(-8, 0);
    if (trial % 2 == 0) std::swap(p.input1_multiplier, p.input2_multiplier), std::swap(p.input1_shift, p.input2_shift);
    p.output_multiplier = multiplier();
    p.output_shift = rng.range(-26, -12);
    p.act = trial % 4 == 0 ? kernels::ActivationRange{p.output_offset > -128 ? p.output_offset : -128, 127}
                           : kernels::ActivationRange{-128, 127};
    kernels::add_s8(p, 65536, x1, x2, out);
    int32_t mismatches = 0;
    for (int32_t i = 0; i < 65536; ++i) mismatches += out[i] != reference_add(p, x1[i], x2[i]);
    EXPECT_EQ_U32(0u, static_cast<uint32_t>(mismatches));
  }
}

}  // namespace

int main() {
  RUN_TEST(test_fast_output_stage_matches_reference_on_random_cases);
  RUN_TEST(test_fast_output_stage_matches_reference_at_boundaries);
  RUN_TEST(test_reference_output_stage_is_requantize);
  RUN_TEST(test_doubled_accumulator_bound);
  RUN_TEST(test_dsp_byte_widening_twins);
  RUN_TEST(test_dsp_multiply_twins);
  RUN_TEST(test_dsp_loads_and_2x2_block);
  RUN_TEST(test_add_matches_reference_on_every_input_pair);
  return unit_test::finish();
}
