// The few Cortex-M DSP-extension instructions the int8 kernels use, each with a portable twin that
// computes exactly the same bits. Kernels call only these wrappers, so the native build runs the
// same loops, tiling and packing as the device; only the instruction behind each call differs.
//
// Lane convention (as on the device, little-endian): a uint32_t holds two int16 lanes, lane 0 in
// bits 0..15 ("bottom"), lane 1 in bits 16..31 ("top"). SXTB16 of the four int8 bytes b0 b1 b2 b3
// gives the lanes (b0, b2); SXTB16 ROR #8 gives (b1, b3). A dot product over four int8 values is
// therefore two SMLADs: (a0, a2)·(w0, w2) + (a1, a3)·(w1, w3), as long as both operands use the
// same permutation.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>
#endif

namespace kernels {
namespace dsp {

/// A compiler barrier between the taps of an unrolled loop: GCC's pre-register-allocation
/// scheduler would otherwise hoist every load to the top and spill the widened values. No
/// instruction is emitted.
inline void keep_loads_in_order() {
#if defined(__GNUC__)
  __asm__ volatile("" ::: "memory");
#endif
}

/// Four bytes from any address (LDR on Cortex-M4/M7, which allow unaligned word loads).
inline uint32_t read_u32(const void* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

/// Two consecutive words at p + words of a 4-byte aligned buffer, as one LDRD with an immediate
/// offset: `words` must fold to a constant after unrolling. (GCC's Cortex-M7 tuning never pairs two
/// word loads into an LDRD by itself.)
struct Pair {
  uint32_t first, second;
};
typedef uint64_t __attribute__((may_alias)) AliasedU64;
__attribute__((always_inline)) inline Pair read_pair(const uint32_t* p, int words) {
#if defined(__ARM_FEATURE_DSP)
  uint32_t first, second;
  __asm__("ldrd %0, %1, [%2, %3]"
          : "=r"(first), "=r"(second)
          : "r"(p), "i"(words * 4), "m"(*reinterpret_cast<const AliasedU64*>(p + words)));
  return {first, second};
#else
  return {p[words], p[words + 1]};
#endif
}

inline int32_t bottom(uint32_t x) { return static_cast<int16_t>(x & 0xFFFFu); }
inline int32_t top(uint32_t x) { return static_cast<int16_t>(x >> 16); }
/// Two int16 lanes from two values (truncated to 16 bits each).
inline uint32_t pack(int32_t lane0, int32_t lane1) {
  return (static_cast<uint32_t>(lane0) & 0xFFFFu) | (static_cast<uint32_t>(lane1) << 16);
}

/// Per lane: a + sign-extended bytes 0 and 2 of b (SXTAB16).
inline uint32_t sxtab16(uint32_t a, uint32_t b) {
#if defined(__ARM_FEATURE_DSP)
  return static_cast<uint32_t>(__sxtab16(static_cast<int32_t>(a), static_cast<int32_t>(b)));
#else
  return pack(bottom(a) + static_cast<int8_t>(b & 0xFFu), top(a) + static_cast<int8_t>((b >> 16) & 0xFFu));
#endif
}

/// Per lane: a + sign-extended bytes 1 and 3 of b (SXTAB16 with ROR #8).
inline uint32_t sxtab16_ror8(uint32_t a, uint32_t b) {
#if defined(__ARM_FEATURE_DSP)
  uint32_t r;
  __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(b));
  return r;
#else
  return pack(bottom(a) + static_cast<int8_t>((b >> 8) & 0xFFu), top(a) + static_cast<int8_t>(b >> 24));
#endif
}

/// Sign-extended bytes 0 and 2 (SXTB16).
inline uint32_t sxtb16(uint32_t b) {
#if defined(__ARM_FEATURE_DSP)
  return static_cast<uint32_t>(__sxtb16(static_cast<int32_t>(b)));
#else
  return sxtab16(0u, b);
#endif
}

/// Sign-extended bytes 1 and 3 (SXTB16 with ROR #8).
inline uint32_t sxtb16_ror8(uint32_t b) {
#if defined(__ARM_FEATURE_DSP)
  uint32_t r;
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(b));
  return r;
#else
  return sxtab16_ror8(0u, b);
#endif
}

/// acc + x.bottom * y.bottom + x.top * y.top (SMLAD; wraps modulo 2^32 like the instruction).
inline int32_t smlad(uint32_t x, uint32_t y, int32_t acc) {
#if defined(__ARM_FEATURE_DSP)
  return __smlad(static_cast<int32_t>(x), static_cast<int32_t>(y), acc);
#else
  const uint32_t sum = static_cast<uint32_t>(bottom(x) * bottom(y)) + static_cast<uint32_t>(top(x) * top(y));
  return static_cast<int32_t>(static_cast<uint32_t>(acc) + sum);
#endif
}

/// acc + x.bottom * y.bottom (SMLABB) and its lane variants: one MAC, for the odd tap of a window.
inline int32_t smlabb(uint32_t x, uint32_t y, int32_t acc) {
#if defined(__ARM_FEATURE_DSP)
  return __smlabb(static_cast<int32_t>(x), static_cast<int32_t>(y), acc);
#else
  return static_cast<int32_t>(static_cast<uint32_t>(acc) + static_cast<uint32_t>(bottom(x) * bottom(y)));
#endif
}
inline int32_t smlabt(uint32_t x, uint32_t y, int32_t acc) {
#if defined(__ARM_FEATURE_DSP)
  return __smlabt(static_cast<int32_t>(x), static_cast<int32_t>(y), acc);
#else
  return static_cast<int32_t>(static_cast<uint32_t>(acc) + static_cast<uint32_t>(bottom(x) * top(y)));
#endif
}
inline int32_t smlatb(uint32_t x, uint32_t y, int32_t acc) {
#if defined(__ARM_FEATURE_DSP)
  return __smlatb(static_cast<int32_t>(x), static_cast<int32_t>(y), acc);
#else
  return static_cast<int32_t>(static_cast<uint32_t>(acc) + static_cast<uint32_t>(top(x) * bottom(y)));
#endif
}

inline int32_t smlatt(uint32_t x, uint32_t y, int32_t acc) {
#if defined(__ARM_FEATURE_DSP)
  return __smlatt(static_cast<int32_t>(x), static_cast<int32_t>(y), acc);
#else
  return static_cast<int32_t>(static_cast<uint32_t>(acc) + static_cast<uint32_t>(top(x) * top(y)));
#endif
}

/// acc * 2^32 + a * b, the 64-bit sum SMMLA and SMMLAR take the high word of (portable twins).
inline int64_t most_significant_sum(int32_t a, int32_t b, int32_t acc) {
  return static_cast<int64_t>(static_cast<uint64_t>(static_cast<int64_t>(acc)) << 32) + static_cast<int64_t>(a) * b;
}

/// Rounded high word of acc * 2^32 + a * b: (acc * 2^32 + a * b + 2^31) >> 32 (SMMLAR).
inline int32_t smmlar(int32_t a, int32_t b, int32_t acc) {
#if defined(__ARM_FEATURE_DSP)
  int32_t r;
  __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
  return r;
#else
  return static_cast<int32_t>((most_significant_sum(a, b, acc) + (int64_t{1} << 31)) >> 32);
#endif
}

/// High word of acc * 2^32 + a * b, truncated (SMMLA).
inline int32_t smmla(int32_t a, int32_t b, int32_t acc) {
#if defined(__ARM_FEATURE_DSP)
  int32_t r;
  __asm__("smmla %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
  return r;
#else
  return static_cast<int32_t>(most_significant_sum(a, b, acc) >> 32);
#endif
}

/// The running sums of a 2 x 2 block of dot products: a_pc for pixel p and channel c.
struct Acc2x2 {
  int32_t a00, a01, a10, a11;
};

/// start[c] plus the dot products of two int16 vectors x0, x1 with two int16 vectors w0, w1, stored
/// interleaved in groups of four values: x holds per group x0 (2 words) then x1 (2 words), w holds
/// w0 (2 words) then w1 (2 words), each pair of words being lanes (v0, v2), (v1, v3). `groups` is
/// >= 1 and odd exactly when kOddGroups; x advances past them. The device loop takes two groups per
/// iteration, an odd count entering it at its second group: per group
/// one LDM of the four weight words, two LDRDs of patch words, eight SMLADs (GCC does not form LDM
/// from C, and without it the 2 x 2 block runs out of registers).
template <bool kOddGroups>
__attribute__((always_inline)) inline Acc2x2 smlad_2x2(const uint32_t*& x, const uint32_t* w, int32_t groups,
                                                       const int32_t* start) {
  int32_t a00, a01, a10, a11;
  const uint32_t* const w_end = w + groups * 4;
#if defined(__ARM_FEATURE_DSP)
#define KERNELS_SMLAD_2X2_GROUP            \
  "ldmia %[w]!, {r4, r5, r6, r8}\n\t"      \
  "ldrd r9, r10, [%[x]], #8\n\t"           \
  "smlad %[a00], r9, r4, %[a00]\n\t"       \
  "smlad %[a00], r10, r5, %[a00]\n\t"      \
  "smlad %[a01], r9, r6, %[a01]\n\t"       \
  "smlad %[a01], r10, r8, %[a01]\n\t"      \
  "ldrd r9, r10, [%[x]], #8\n\t"           \
  "smlad %[a10], r9, r4, %[a10]\n\t"       \
  "smlad %[a10], r10, r5, %[a10]\n\t"      \
  "smlad %[a11], r9, r6, %[a11]\n\t"       \
  "smlad %[a11], r10, r8, %[a11]\n\t"
  if (!kOddGroups) {
    __asm__ volatile("ldrd %[a00], %[a01], [%[start]]\n\t"
                     "mov %[a10], %[a00]\n\t"
                     "mov %[a11], %[a01]\n\t"
                     "1:\n\t" KERNELS_SMLAD_2X2_GROUP KERNELS_SMLAD_2X2_GROUP
                     "cmp %[w], %[end]\n\t"
                     "bne 1b\n\t"
                     : [x] "+r"(x), [w] "+r"(w), [a00] "=&r"(a00), [a01] "=&r"(a01), [a10] "=&r"(a10),
                       [a11] "=&r"(a11)
                     : [end] "r"(w_end), [start] "r"(start)
                     : "r4", "r5", "r6", "r8", "r9", "r10", "cc", "memory");
  } else {
    __asm__ volatile("ldrd %[a00], %[a01], [%[start]]\n\t"
                     "mov %[a10], %[a00]\n\t"
                     "mov %[a11], %[a01]\n\t"
                     "b 2f\n\t"
                     "1:\n\t" KERNELS_SMLAD_2X2_GROUP "2:\n\t" KERNELS_SMLAD_2X2_GROUP
                     "cmp %[w], %[end]\n\t"
                     "bne 1b\n\t"
                     : [x] "+r"(x), [w] "+r"(w), [a00] "=&r"(a00), [a01] "=&r"(a01), [a10] "=&r"(a10),
                       [a11] "=&r"(a11)
                     : [end] "r"(w_end), [start] "r"(start)
                     : "r4", "r5", "r6", "r8", "r9", "r10", "cc", "memory");
  }
#undef KERNELS_SMLAD_2X2_GROUP
#else
  a00 = a10 = start[0];
  a01 = a11 = start[1];
  for (; w != w_end; x += 4, w += 4) {
    a00 = smlad(x[1], w[1], smlad(x[0], w[0], a00));
    a01 = smlad(x[1], w[3], smlad(x[0], w[2], a01));
    a10 = smlad(x[3], w[1], smlad(x[2], w[0], a10));
    a11 = smlad(x[3], w[3], smlad(x[2], w[2], a11));
  }
#endif
  return {a00, a01, a10, a11};
}

/// smlad_2x2's a00 and a01 alone, the pixel pair's first pixel (a tile's odd last pixel, whose
/// partner is the zero patch): per group one LDM of weights, one LDRD of patch, four SMLADs.
struct Acc1x2 {
  int32_t a0, a1;
};
__attribute__((always_inline)) inline Acc1x2 smlad_1x2(const uint32_t* x, const uint32_t* w, int32_t groups,
                                                       const int32_t* start) {
  int32_t a0, a1;
  const uint32_t* const w_end = w + groups * 4;
#if defined(__ARM_FEATURE_DSP)
  __asm__ volatile("ldrd %[a0], %[a1], [%[start]]\n\t"
                   "1:\n\t"
                   "ldmia %[w]!, {r4, r5, r6, r8}\n\t"
                   "ldrd r9, r10, [%[x]], #16\n\t"
                   "smlad %[a0], r9, r4, %[a0]\n\t"
                   "smlad %[a0], r10, r5, %[a0]\n\t"
                   "smlad %[a1], r9, r6, %[a1]\n\t"
                   "smlad %[a1], r10, r8, %[a1]\n\t"
                   "cmp %[w], %[end]\n\t"
                   "bne 1b\n\t"
                   : [x] "+r"(x), [w] "+r"(w), [a0] "=&r"(a0), [a1] "=&r"(a1)
                   : [end] "r"(w_end), [start] "r"(start)
                   : "r4", "r5", "r6", "r8", "r9", "r10", "cc", "memory");
#else
  a0 = start[0];
  a1 = start[1];
  for (; w != w_end; x += 4, w += 4) {
    a0 = smlad(x[1], w[1], smlad(x[0], w[0], a0));
    a1 = smlad(x[1], w[3], smlad(x[0], w[2], a1));
  }
#endif
  return {a0, a1};
}

/// smlad_2x2 from zero over `blocks` consecutive pairs of rows at x (each `groups` groups, the
/// layout smlad_2x2 reads) with the one pair w: out[4 i .. 4 i + 3] = block i's a00, a01, a10, a11.
/// blocks, groups >= 1. On the device one loop in registers: per block four MOVs, the groups,
/// one STM and the loop's three instructions (a C loop around smlad_2x2 spilled some 25 more).
#if defined(__ARM_FEATURE_DSP)
#define KERNELS_SMLAD_BLOCKS_GROUP        \
  "ldmia r12!, {r4, r5, r6, r8}\n\t"      \
  "ldrd r9, r10, [r0], #8\n\t"            \
  "smlad r1, r9, r4, r1\n\t"              \
  "smlad r1, r10, r5, r1\n\t"             \
  "smlad r7, r9, r6, r7\n\t"              \
  "smlad r7, r10, r8, r7\n\t"             \
  "ldrd r9, r10, [r0], #8\n\t"            \
  "smlad r11, r9, r4, r11\n\t"            \
  "smlad r11, r10, r5, r11\n\t"           \
  "smlad lr, r9, r6, lr\n\t"              \
  "smlad lr, r10, r8, lr\n\t"
// r0 x, r2 the pair's end, r3 out, r12 the pair's cursor; [sp] the pair, [sp, #4] out's end;
// a00 a01 a10 a11 in r1 r7 r11 lr (STM's register order). kOdd enters the two-group loop at its
// second group.
#define KERNELS_SMLAD_BLOCKS(ENTER_ODD)   \
  "push {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t" \
  "sub sp, #8\n\t"                        \
  "str r1, [sp]\n\t"                      \
  "add r2, r1, r2, lsl #4\n\t"            \
  "ldr r12, [sp, #44]\n\t"                \
  "add r3, r12, r3, lsl #4\n\t"           \
  "str r3, [sp, #4]\n\t"                  \
  "mov r3, r12\n\t"                       \
  "1:\n\t"                                \
  "ldr r12, [sp]\n\t"                     \
  "movs r1, #0\n\t"                       \
  "movs r7, #0\n\t"                       \
  "mov r11, #0\n\t"                       \
  "mov lr, #0\n\t"                        \
  ENTER_ODD                               \
  "2:\n\t" KERNELS_SMLAD_BLOCKS_GROUP     \
  "3:\n\t" KERNELS_SMLAD_BLOCKS_GROUP     \
  "cmp r12, r2\n\t"                       \
  "bne 2b\n\t"                            \
  "stmia r3!, {r1, r7, r11, lr}\n\t"      \
  "ldr r1, [sp, #4]\n\t"                  \
  "cmp r3, r1\n\t"                        \
  "bne 1b\n\t"                            \
  "add sp, #8\n\t"                        \
  "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t"
__attribute__((naked, noinline)) inline void smlad_2x2_blocks_even(const uint32_t* /*x*/, const uint32_t* /*w*/,
                                                                   int32_t /*groups*/, int32_t /*blocks*/,
                                                                   int32_t* /*out*/) {
  __asm__ volatile(KERNELS_SMLAD_BLOCKS(""));
}
__attribute__((naked, noinline)) inline void smlad_2x2_blocks_odd(const uint32_t* /*x*/, const uint32_t* /*w*/,
                                                                  int32_t /*groups*/, int32_t /*blocks*/,
                                                                  int32_t* /*out*/) {
  __asm__ volatile(KERNELS_SMLAD_BLOCKS("b 3f\n\t"));
}
#undef KERNELS_SMLAD_BLOCKS
#undef KERNELS_SMLAD_BLOCKS_GROUP
#endif
inline void smlad_2x2_blocks(const uint32_t* x, const uint32_t* w, int32_t groups, int32_t blocks, int32_t* out) {
#if defined(__ARM_FEATURE_DSP)
  if (groups % 2 != 0)
    smlad_2x2_blocks_odd(x, w, groups, blocks, out);
  else
    smlad_2x2_blocks_even(x, w, groups, blocks, out);
#else
  static const int32_t kZero[2] = {0, 0};
  for (int32_t i = 0; i < blocks; ++i, out += 4) {
    const Acc2x2 a = smlad_2x2<false>(x, w, groups, kZero);
    out[0] = a.a00, out[1] = a.a01, out[2] = a.a10, out[3] = a.a11;
  }
#endif
}

/// x saturated to [-128, 127] (SSAT #8).
inline int32_t ssat8(int32_t x) {
#if defined(__ARM_FEATURE_DSP)
  return __ssat(x, 8);
#else
  return x < -128 ? -128 : (x > 127 ? 127 : x);
#endif
}

/// x saturated to [-256, 255] (SSAT #9).
inline int32_t ssat9(int32_t x) {
#if defined(__ARM_FEATURE_DSP)
  return __ssat(x, 9);
#else
  return x < -256 ? -256 : (x > 255 ? 255 : x);
#endif
}

/// Bottom lane of a, bottom lane of b as top lane (PKHBT a, b, LSL #16): two int16 values of one
/// channel from two words that hold it in their bottom lanes.
inline uint32_t pkhbt_lsl16(uint32_t a, uint32_t b) {
#if defined(__ARM_FEATURE_DSP)
  uint32_t r;
  __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(a), "r"(b));
  return r;
#else
  return (a & 0xFFFFu) | (b << 16);
#endif
}

/// Top lane of b as bottom lane, top lane of a (PKHTB a, b, ASR #16): the top-lane twin of
/// pkhbt_lsl16, pkhtb_asr16(hi, lo) = (lo.top, hi.top).
inline uint32_t pkhtb_asr16(uint32_t a, uint32_t b) {
#if defined(__ARM_FEATURE_DSP)
  uint32_t r;
  __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(a), "r"(b));
  return r;
#else
  return (a & 0xFFFF0000u) | (b >> 16);
#endif
}

}  // namespace dsp
}  // namespace kernels

namespace kernels {
namespace dsp {

/// Stores two words at p + words of a 4-byte aligned buffer as one STRD with an immediate offset:
/// the twin of read_pair, `words` likewise folding to a constant (|4 * words| <= 1020).
__attribute__((always_inline)) inline void write_pair(uint32_t* p, int words, uint32_t first, uint32_t second) {
#if defined(__ARM_FEATURE_DSP)
  __asm__("strd %1, %2, [%3, %4]"
          : "=m"(*reinterpret_cast<AliasedU64*>(p + words))
          : "r"(first), "r"(second), "r"(p), "i"(words * 4));
#else
  p[words] = first;
  p[words + 1] = second;
#endif
}

}  // namespace dsp
}  // namespace kernels
