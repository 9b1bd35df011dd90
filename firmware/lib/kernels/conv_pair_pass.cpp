#include "conv_pair_pass.h"

namespace kernels {

#if defined(__ARM_FEATURE_DSP)
static_assert(sizeof(PairPass) == 80, "the device loop reads PairPass at fixed offsets");
static_assert(kPairConstantWords == 10, "the device loop reads a pair's constants as six words, then four");

// The device loop keeps a whole 2x2 block in the fourteen registers: weights r2-r5 (one LDM per
// group of four k: channel oc's two words, then oc + 1's), patch r6-r9 (one LDM: first pixel's two
// words, then the second's), accumulators r10-r12 and lr, patch pointer r0, weight pointer r1. The
// PairPass lives on the stack, where one LDM brings back the scales after a block and one the
// next block's start (weight pointer, tile end, accumulators). Per group: two LDMs and eight
// SMLADs; per block: the output stage of four outputs (each pixel's two channels go out in one
// STRH), four instructions of set-up and the jump into the groups. Between channel pairs the loop
// copies the next pair's constants, which the stream holds before its weights (conv2d_s8.h), into
// the frame with two LDM / STM pairs.
//
// The groups are unrolled kMaxPairPassGroups times and every block enters them `groups` groups
// before their end, by an LDR PC of the entry the prologue computed: no instruction counts groups
// or tests for the end of a dot product. Each group is forced to 40 bytes (.w) so that the entry
// is the end of the groups minus 40 * groups, which the assembler checks.
#define KERNELS_PAIR_GROUP            \
  "ldmia.w r1!, {r2, r3, r4, r5}\n\t" \
  "ldmia.w r0!, {r6, r7, r8, r9}\n\t" \
  "smlad r10, r6, r2, r10\n\t"        \
  "smlad r10, r7, r3, r10\n\t"        \
  "smlad r11, r6, r4, r11\n\t"        \
  "smlad r11, r7, r5, r11\n\t"        \
  "smlad r12, r8, r2, r12\n\t"        \
  "smlad r12, r9, r3, r12\n\t"        \
  "smlad lr, r8, r4, lr\n\t"          \
  "smlad lr, r9, r5, lr\n\t"
#define KERNELS_PAIR_GROUPS_4 KERNELS_PAIR_GROUP KERNELS_PAIR_GROUP KERNELS_PAIR_GROUP KERNELS_PAIR_GROUP
#define KERNELS_PAIR_GROUPS_16 KERNELS_PAIR_GROUPS_4 KERNELS_PAIR_GROUPS_4 KERNELS_PAIR_GROUPS_4 KERNELS_PAIR_GROUPS_4
#define KERNELS_PAIR_GROUPS_64 \
  KERNELS_PAIR_GROUPS_16 KERNELS_PAIR_GROUPS_16 KERNELS_PAIR_GROUPS_16 KERNELS_PAIR_GROUPS_16
static_assert(kMaxPairPassGroups == 64, "KERNELS_PAIR_GROUPS_64 unrolls kMaxPairPassGroups groups");
// OutputStage::fast_output for the four accumulators, kFastRelu (no sign term) and kFast.
#define KERNELS_PAIR_SCALE_RELU                          \
  "ldm sp, {r2, r3, r4, r5, r6, r7, r8, r9}\n\t"         \
  "smmlar r10, r10, r2, r3\n\t"                          \
  "smmlar r12, r12, r2, r3\n\t"                          \
  "smmlar r11, r11, r4, r5\n\t"                          \
  "smmlar lr, lr, r4, r5\n\t"
// (r1, free once the groups are done, holds the rounding with the sign term.)
#define KERNELS_PAIR_SCALE_SIGNED                        \
  "ldm sp, {r2, r3, r4, r5, r6, r7, r8, r9}\n\t"         \
  "add r1, r3, r10, asr #31\n\t"                         \
  "smmlar r10, r10, r2, r1\n\t"                          \
  "add r1, r3, r12, asr #31\n\t"                         \
  "smmlar r12, r12, r2, r1\n\t"                          \
  "add r1, r5, r11, asr #31\n\t"                         \
  "smmlar r11, r11, r4, r1\n\t"                          \
  "add r1, r5, lr, asr #31\n\t"                          \
  "smmlar lr, lr, r4, r1\n\t"
// Saturated to int8, each pixel's two channels are joined by a BFI (the second's low byte above
// the first's) and stored by one STRH (unaligned halfword stores are allowed on Cortex-M4/M7).
#define KERNELS_PAIR_STORE                               \
  "asr r10, r10, r6\n\t"                                 \
  "asr r12, r12, r6\n\t"                                 \
  "asr r11, r11, r7\n\t"                                 \
  "asr lr, lr, r7\n\t"                                   \
  "ssat r10, #8, r10\n\t"                                \
  "ssat r11, #8, r11\n\t"                                \
  "ssat r12, #8, r12\n\t"                                \
  "ssat lr, #8, lr\n\t"                                  \
  "bfi r10, r11, #8, #8\n\t"                             \
  "bfi r12, lr, #8, #8\n\t"                              \
  "strh r10, [r8]\n\t"                                   \
  "strh r12, [r8, r9]\n\t"                               \
  "add r8, r8, r9, lsl #1\n\t"                           \
  "str r8, [sp, #24]\n\t"
// The next block: its weight pointer and first accumulators, the end test (then the next channel
// pair, label 10), the jump into the groups.
#define KERNELS_PAIR_START                               \
  "add r2, sp, #32\n\t"                                  \
  "ldm r2, {r1, r3, r10, r11, r12, lr}\n\t"              \
  "cmp r0, r3\n\t"                                       \
  "beq 10b\n\t"                                          \
  "ldr pc, [sp, #56]\n\t"
// The next channel pair (label 10: r1 at the finished pair's weights; label 11: at this pair's
// constants): its constants (stored as the block's scales and first accumulators), weights and
// outputs.
#define KERNELS_PAIR_NEXT                                \
  "10:\n\t"                                              \
  "ldr r2, [sp, #72]\n\t"                                \
  "add r1, r1, r2\n\t"                                   \
  "11:\n\t"                                              \
  "ldr r3, [sp, #68]\n\t"                                \
  "subs r3, r3, #1\n\t"                                  \
  "bmi 3f\n\t"                                           \
  "str r3, [sp, #68]\n\t"                                \
  "ldmia r1!, {r2, r3, r4, r5, r6, r7}\n\t"              \
  "stm sp, {r2, r3, r4, r5, r6, r7}\n\t"                 \
  "ldmia r1!, {r10, r11, r12, lr}\n\t"                   \
  "add r2, sp, #40\n\t"                                  \
  "stm r2, {r10, r11, r12, lr}\n\t"                      \
  "str r1, [sp, #32]\n\t"                                \
  "ldr r2, [sp, #64]\n\t"                                \
  "str r2, [sp, #24]\n\t"                                \
  "adds r2, r2, #2\n\t"                                  \
  "str r2, [sp, #64]\n\t"                                \
  "ldr r0, [sp, #60]\n\t"
// The PairPass in r0, copied to the stack (its group count replaced by the entry); ENTRIES computes
// further entries; then the groups, and after them TAIL.
#define KERNELS_PAIR_PASS(ENTRIES, TAIL)                                                          \
  __asm__ volatile("push {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"                              \
                   "sub sp, sp, #88\n\t"                                                          \
                   "ldmia r0!, {r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, r12}\n\t"           \
                   "stm sp, {r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, r12}\n\t"              \
                   "ldm r0, {r1, r2, r3, r4, r5, r6, r7, r8}\n\t"                                 \
                   "add lr, sp, #48\n\t"                                                          \
                   "stm lr, {r1, r2, r3, r4, r5, r6, r7, r8}\n\t"                                 \
                   "ldr r8, [sp, #56]\n\t"                                                        \
                   "adr.w r2, 9f + 1\n\t"                                                         \
                   "add r3, r8, r8, lsl #2\n\t"                                                   \
                   "sub r2, r2, r3, lsl #3\n\t"                                                   \
                   "str r2, [sp, #56]\n\t" ENTRIES                                                \
                   "ldr r1, [sp, #32]\n\t"                                                        \
                   "b 11f\n\t" KERNELS_PAIR_NEXT KERNELS_PAIR_START                               \
                   "8:\n\t" KERNELS_PAIR_GROUPS_64                                                \
                   "9:\n\t"                                                                       \
                   ".if 9b - 8b != 40 * 64\n\t"                                                    \
                   ".error \"a pair group is not 40 bytes\"\n\t"                                   \
                   ".endif\n\t" TAIL                                                              \
                   "3:\n\t"                                                                       \
                   "add sp, sp, #88\n\t"                                                          \
                   "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t")

__attribute__((naked, noinline)) void pair_pass_relu(PairPass*) {
  KERNELS_PAIR_PASS("", KERNELS_PAIR_SCALE_RELU KERNELS_PAIR_STORE KERNELS_PAIR_START);
}
__attribute__((naked, noinline)) void pair_pass_signed(PairPass*) {
  KERNELS_PAIR_PASS("", KERNELS_PAIR_SCALE_SIGNED KERNELS_PAIR_STORE KERNELS_PAIR_START);
}
// kScaledRelu: one tail per layer shift E (2 .. kMaxFastShift + 1), SSAT applying it as its
// immediate ASR, which saves the four ASRs of a block for one jump (LDR PC of the tail the
// prologue computed, at [sp, #80]). Each tail is forced to 80 bytes (.w), which the assembler checks.
#define KERNELS_PAIR_TAIL_ENTRY                          \
  "ldr r8, [sp, #76]\n\t"                                \
  "adr.w r2, 5f + 1\n\t"                                 \
  "sub r8, r8, #2\n\t"                                   \
  "movs r3, #80\n\t"                                     \
  "mla r2, r8, r3, r2\n\t"                               \
  "str r2, [sp, #80]\n\t"
#define KERNELS_PAIR_SCALED_TAILS                                            \
  "ldr pc, [sp, #80]\n"                                                     \
  "5:\n\t"                                                                 \
  ".irp e, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21\n\t" \
  "ldm.w sp, {r2, r3, r4, r5, r6, r7, r8, r9}\n\t"                          \
  "smmla r10, r10, r2, r3\n\t"                                             \
  "smmla r12, r12, r2, r3\n\t"                                             \
  "smmla r11, r11, r4, r5\n\t"                                             \
  "smmla lr, lr, r4, r5\n\t"                                               \
  "ssat r10, #8, r10, asr #\\e\n\t"                                        \
  "ssat r11, #8, r11, asr #\\e\n\t"                                        \
  "ssat r12, #8, r12, asr #\\e\n\t"                                        \
  "ssat lr, #8, lr, asr #\\e\n\t"                                          \
  "bfi r10, r11, #8, #8\n\t"                                               \
  "bfi r12, lr, #8, #8\n\t"                                                \
  "strh.w r10, [r8]\n\t"                                                   \
  "strh.w r12, [r8, r9]\n\t"                                               \
  "add.w r8, r8, r9, lsl #1\n\t"                                           \
  "str.w r8, [sp, #24]\n\t"                                                \
  "add.w r2, sp, #32\n\t"                                                  \
  "ldm.w r2, {r1, r3, r10, r11, r12, lr}\n\t"                              \
  "cmp.w r0, r3\n\t"                                                       \
  "beq.w 10b\n\t"                                                          \
  "ldr.w pc, [sp, #56]\n\t"                                                \
  ".endr\n"                                                                 \
  "6:\n\t"                                                                 \
  ".if 6b - 5b != 80 * 20\n\t"                                             \
  ".error \"a scaled tail is not 80 bytes\"\n\t"                            \
  ".endif\n\t"
static_assert(kMaxFastShift == 20, "one tail per layer shift, 2 .. 21");

__attribute__((naked, noinline)) void pair_pass_scaled(PairPass*) {
  KERNELS_PAIR_PASS(KERNELS_PAIR_TAIL_ENTRY, KERNELS_PAIR_SCALED_TAILS);
}
#undef KERNELS_PAIR_PASS
#undef KERNELS_PAIR_SCALED_TAILS
#undef KERNELS_PAIR_TAIL_ENTRY
#undef KERNELS_PAIR_NEXT
#undef KERNELS_PAIR_START
#undef KERNELS_PAIR_STORE
#undef KERNELS_PAIR_SCALE_SIGNED
#undef KERNELS_PAIR_SCALE_RELU
#undef KERNELS_PAIR_GROUPS_64
#undef KERNELS_PAIR_GROUPS_16
#undef KERNELS_PAIR_GROUPS_4
#undef KERNELS_PAIR_GROUP
#endif

}  // namespace kernels
