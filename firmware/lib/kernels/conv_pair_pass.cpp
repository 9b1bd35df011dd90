#include "conv_pair_pass.h"

namespace kernels {

#if defined(__ARM_FEATURE_DSP)
static_assert(sizeof(PairPass) == 56, "the device loop reads PairPass at fixed offsets");

// The device loop keeps a whole 2x2 block in the fourteen registers: weights r2-r5 (one LDM per
// group of four k: channel oc's two words, then oc + 1's), patch r6-r9 (one LDM: first pixel's two
// words, then the second's), accumulators r10-r12 and lr, patch pointer r0, weight pointer r1. The
// PairPass lives on the stack, where one LDM brings back the scales after a block and one the
// next block's start (weight pointer, tile end, accumulators). Per group: two LDMs and eight
// SMLADs; per block: the output stage of four outputs, six stores and pointer moves, four
// instructions of set-up. The loop takes four groups per turn; a count that is not a multiple of
// four enters at the group that leaves a whole number of turns.
#define KERNELS_PAIR_GROUP            \
  "ldmia r1!, {r2, r3, r4, r5}\n\t"   \
  "ldmia r0!, {r6, r7, r8, r9}\n\t"   \
  "smlad r10, r6, r2, r10\n\t"        \
  "smlad r10, r7, r3, r10\n\t"        \
  "smlad r11, r6, r4, r11\n\t"        \
  "smlad r11, r7, r5, r11\n\t"        \
  "smlad r12, r8, r2, r12\n\t"        \
  "smlad r12, r9, r3, r12\n\t"        \
  "smlad lr, r8, r4, lr\n\t"          \
  "smlad lr, r9, r5, lr\n\t"
// OutputStage::fast_output for the four accumulators, kFastRelu (no sign term) and kFast.
#define KERNELS_PAIR_SCALE_RELU                          \
  "ldm sp, {r2, r3, r4, r5, r6, r7, r8, r9}\n\t"         \
  "smmlar r10, r10, r2, r3\n\t"                          \
  "smmlar r12, r12, r2, r3\n\t"                          \
  "smmlar r11, r11, r4, r5\n\t"                          \
  "smmlar lr, lr, r4, r5\n\t"
#define KERNELS_PAIR_SCALE_SIGNED                        \
  "ldm sp, {r2, r3, r4, r5}\n\t"                         \
  "add r6, r3, r10, asr #31\n\t"                         \
  "smmlar r10, r10, r2, r6\n\t"                          \
  "add r6, r3, r12, asr #31\n\t"                         \
  "smmlar r12, r12, r2, r6\n\t"                          \
  "add r6, r5, r11, asr #31\n\t"                         \
  "smmlar r11, r11, r4, r6\n\t"                          \
  "add r6, r5, lr, asr #31\n\t"                          \
  "smmlar lr, lr, r4, r6\n\t"                            \
  "ldrd r6, r7, [sp, #16]\n\t"                           \
  "ldrd r8, r9, [sp, #24]\n\t"
#define KERNELS_PAIR_STORE                               \
  "asr r10, r10, r6\n\t"                                 \
  "asr r12, r12, r6\n\t"                                 \
  "asr r11, r11, r7\n\t"                                 \
  "asr lr, lr, r7\n\t"                                   \
  "ssat r10, #8, r10\n\t"                                \
  "ssat r11, #8, r11\n\t"                                \
  "ssat r12, #8, r12\n\t"                                \
  "ssat lr, #8, lr\n\t"                                  \
  "strb r10, [r8]\n\t"                                   \
  "strb r11, [r8, #1]\n\t"                               \
  "add r8, r8, r9\n\t"                                   \
  "strb r12, [r8]\n\t"                                   \
  "strb lr, [r8, #1]\n\t"                                \
  "add r8, r8, r9\n\t"                                   \
  "str r8, [sp, #24]\n\t"
#define KERNELS_PAIR_START                               \
  "add r2, sp, #32\n\t"                                  \
  "ldm r2, {r1, r3, r10, r11, r12, lr}\n\t"              \
  "cmp r0, r3\n\t"
// x in r0, the PairPass in r1 (copied to the stack). ENTRY jumps to the group that leaves whole
// turns of four.
#define KERNELS_PAIR_PASS(ENTRY, SCALE)                                                          \
  __asm__ volatile("push {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"                              \
                   "sub sp, sp, #56\n\t"                                                          \
                   "ldmia r1!, {r2, r3, r4, r5, r6, r7, r8, r9}\n\t"                              \
                   "stm sp, {r2, r3, r4, r5, r6, r7, r8, r9}\n\t"                                 \
                   "ldm r1, {r2, r3, r4, r5, r6, r7}\n\t"                                         \
                   "add r8, sp, #32\n\t"                                                          \
                   "stm r8, {r2, r3, r4, r5, r6, r7}\n\t" KERNELS_PAIR_START                      \
                   "beq 3f\n\t"                                                                   \
                   "1:\n\t" ENTRY "4:\n\t" KERNELS_PAIR_GROUP "5:\n\t" KERNELS_PAIR_GROUP         \
                   "6:\n\t" KERNELS_PAIR_GROUP "7:\n\t" KERNELS_PAIR_GROUP                        \
                   "lsls r6, r1, #22\n\t"                                                         \
                   "bne 4b\n\t" SCALE KERNELS_PAIR_STORE KERNELS_PAIR_START                       \
                   "bne 1b\n\t"                                                                   \
                   "3:\n\t"                                                                       \
                   "add sp, sp, #56\n\t"                                                          \
                   "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t")
static_assert(kFilterPairAlign == 1u << (32 - 22), "the LSLS above tests the low 10 bits");

// One device loop per output form and per group count modulo four (the entry of the first turn).
#define KERNELS_PAIR_PASSES(NAME, SCALE)                                                     \
  static __attribute__((naked, noinline)) void NAME##_0(const uint32_t*, const PairPass*) {         \
    KERNELS_PAIR_PASS("", SCALE);                                                             \
  }                                                                                           \
  static __attribute__((naked, noinline)) void NAME##_1(const uint32_t*, const PairPass*) {         \
    KERNELS_PAIR_PASS("b 7f\n\t", SCALE);                                                     \
  }                                                                                           \
  static __attribute__((naked, noinline)) void NAME##_2(const uint32_t*, const PairPass*) {         \
    KERNELS_PAIR_PASS("b 6f\n\t", SCALE);                                                     \
  }                                                                                           \
  static __attribute__((naked, noinline)) void NAME##_3(const uint32_t*, const PairPass*) {         \
    KERNELS_PAIR_PASS("b 5f\n\t", SCALE);                                                     \
  }                                                                                           \
  void (*const NAME[4])(const uint32_t*, const PairPass*) = {NAME##_0, NAME##_1, NAME##_2, NAME##_3};
KERNELS_PAIR_PASSES(pair_pass_relu, KERNELS_PAIR_SCALE_RELU)
KERNELS_PAIR_PASSES(pair_pass_signed, KERNELS_PAIR_SCALE_SIGNED)
#undef KERNELS_PAIR_PASSES
#undef KERNELS_PAIR_PASS
#undef KERNELS_PAIR_START
#undef KERNELS_PAIR_STORE
#undef KERNELS_PAIR_SCALE_SIGNED
#undef KERNELS_PAIR_SCALE_RELU
#undef KERNELS_PAIR_GROUP
#endif

}  // namespace kernels
