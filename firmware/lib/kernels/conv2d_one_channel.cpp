#include "conv2d_one_channel.h"

#include "dsp.h"
#include "staging.h"

namespace kernels {

namespace {

// A band of input rows is staged once as int16, 2 * (x + input offset), zero outside the image
// (padding), at a fixed pitch. Then, for one output channel at a time (its six weight pairs and
// scale fixed), each pair of outputs of a row takes one LDRD per filter row: P_x = (s[x], s[x+1])
// and P_x+2 = (s[x+2], s[x+3]), and four multiplies give both outputs' three taps of that row:
//   out[x]   += SMLAD(P_x, (w0, w1)) + SMLABT(P_x+2, (w1, w2))      s[x+2] w2
//   out[x+1] += SMLATB(P_x, (w0, w1)) + SMLAD(P_x+2, (w1, w2))      s[x+1] w0
// so six MACs per LDRD and four instructions, and no per-pixel patch. The staged values are
// doubled, which gives the output stage the doubled accumulator it takes (output_stage.h).

constexpr int32_t kPitch = 128;        // staged halfwords per row: outputs up to kPitch - 4 wide
constexpr int32_t kStagedRows = 16;    // at most 4 KB of scratch
constexpr int32_t kPitchBytes = 2 * kPitch;

/// Stages input rows iy0 .. iy0 + rows - 1: staged column j is input column j - pad_left; the
/// first `columns` columns of each row are written.
void stage_rows(const ConvParams& p, const Dims& in, const int8_t* image, int32_t iy0, int32_t rows, int32_t columns,
                int16_t* staged) {
  const int32_t in_h = in.h, in_w = in.w, pad_left = p.pad_left, off = p.input_offset;
  const int32_t lo = pad_left < columns ? pad_left : columns;  // first staged column inside the image
  const int32_t hi = pad_left + in_w < columns ? pad_left + in_w : columns;
  for (int32_t r = 0; r < rows; ++r, staged += kPitch) {
    const int32_t iy = iy0 + r;
    if (iy < 0 || iy >= in_h) {
      for (int32_t j = 0; j < columns; ++j) staged[j] = 0;
      continue;
    }
    const int8_t* x = image + iy * in_w - pad_left;
    for (int32_t j = 0; j < lo; ++j) staged[j] = 0;
    for (int32_t j = lo; j < hi; ++j) staged[j] = static_cast<int16_t>(2 * (x[j] + off));
    for (int32_t j = hi; j < columns; ++j) staged[j] = 0;
  }
}

/// What the row loop of one output channel holds, in the order the device loop loads it.
struct ChannelRow {
  int32_t multiplier, rounding;  // ChannelScale
  int32_t out_c;                 // output pixel stride
  int32_t shift;                 // ChannelScale's; the device loop has it as an immediate
  int32_t start[2];              // 2 * bias, once per output of a pair
  uint32_t w[6];                 // per filter row: (w0, w1), (w1, w2)
};

/// The output pairs of one row of one channel: staged row 0 (the window's top) from q, one word
/// (two columns) per pair, until q_end; outputs at o, 2 * out_c bytes apart.
#if defined(__ARM_FEATURE_DSP)
// Weights r4-r9, a pair's staged words r10-r11, accumulators r12 and lr; the scale, stride and
// start on the stack. Per pair: three LDRDs (the first steps to the next pair) and twelve
// multiplies, one LDM of the scale, the output stage of two outputs, two stores. One loop per
// output form (kFastRelu, kFast) and per shift (1 .. kMaxFastShift), which SSAT then applies as
// its immediate ASR: a channel's shift is fixed for all its rows, so the choice is made once per
// call and the loop saves an ASR per output.
#define KERNELS_ONE_CHANNEL_TAPS(LOAD, W01, W12)         \
  LOAD                                                   \
  "smlad r12, r10, " W01 ", r12\n\t"                     \
  "smlabt r12, r11, " W12 ", r12\n\t"                    \
  "smlatb lr, r10, " W01 ", lr\n\t"                      \
  "smlad lr, r11, " W12 ", lr\n\t"
#define KERNELS_ONE_CHANNEL_LOOP(SCALE, SHIFT)                                                   \
  __asm__ volatile("push {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"                              \
                   "sub sp, sp, #24\n\t"                                                          \
                   "ldmia r3!, {r4, r5, r6, r7, r8, r9}\n\t"                                      \
                   "stm sp, {r4, r5, r6, r7, r8, r9}\n\t"                                         \
                   "ldm r3, {r4, r5, r6, r7, r8, r9}\n\t"                                         \
                   "ldrd r12, lr, [sp, #16]\n\t"                                                  \
                   "cmp r0, r2\n\t"                                                               \
                   "beq 2f\n\t"                                                                   \
                   "1:\n\t" KERNELS_ONE_CHANNEL_TAPS("ldrd r10, r11, [r0], #4\n\t", "r4", "r5")     \
                       KERNELS_ONE_CHANNEL_TAPS("ldrd r10, r11, [r0, #252]\n\t", "r6", "r7")       \
                       KERNELS_ONE_CHANNEL_TAPS("ldrd r10, r11, [r0, #508]\n\t", "r8", "r9") SCALE  \
                   "ssat r12, #8, r12, asr #" #SHIFT "\n\t"                                        \
                   "ssat lr, #8, lr, asr #" #SHIFT "\n\t"                                          \
                   "strb r12, [r1]\n\t"                                                           \
                   "strb lr, [r1, r11]\n\t"                                                       \
                   "add r1, r1, r11, lsl #1\n\t"                                                  \
                   "ldrd r12, lr, [sp, #16]\n\t"                                                  \
                   "cmp r0, r2\n\t"                                                               \
                   "bne 1b\n\t"                                                                   \
                   "2:\n\t"                                                                       \
                   "add sp, sp, #24\n\t"                                                          \
                   "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t")
// OutputStage::fast_output before the SSAT's shift; leave the output stride in r11.
#define KERNELS_ONE_CHANNEL_SCALE_RELU \
  "ldm sp, {r3, r10, r11}\n\t"         \
  "smmlar r12, r12, r3, r10\n\t"       \
  "smmlar lr, lr, r3, r10\n\t"
#define KERNELS_ONE_CHANNEL_SCALE_SIGNED \
  "ldm sp, {r3, r10}\n\t"                \
  "add r11, r10, r12, asr #31\n\t"       \
  "smmlar r12, r12, r3, r11\n\t"         \
  "add r11, r10, lr, asr #31\n\t"        \
  "smmlar lr, lr, r3, r11\n\t"           \
  "ldr r11, [sp, #8]\n\t"
static_assert(kPitchBytes == 256, "the taps above address filter rows 256 bytes apart");
static_assert(sizeof(ChannelRow) == 48, "the device loop reads ChannelRow at fixed offsets");

using RowLoop = void (*)(const int16_t*, int8_t*, const int16_t*, const ChannelRow*);
#define KERNELS_ONE_CHANNEL_LOOPS(SHIFT)                                                                   \
  __attribute__((naked, noinline)) void row_pairs_relu_##SHIFT(const int16_t*, int8_t*, const int16_t*,   \
                                                                const ChannelRow*) {                       \
    KERNELS_ONE_CHANNEL_LOOP(KERNELS_ONE_CHANNEL_SCALE_RELU, SHIFT);                                       \
  }                                                                                                        \
  __attribute__((naked, noinline)) void row_pairs_signed_##SHIFT(const int16_t*, int8_t*, const int16_t*, \
                                                                  const ChannelRow*) {                     \
    KERNELS_ONE_CHANNEL_LOOP(KERNELS_ONE_CHANNEL_SCALE_SIGNED, SHIFT);                                     \
  }
#define KERNELS_ONE_CHANNEL_SHIFTS(X) \
  X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15) X(16) X(17) X(18) X(19) X(20)
KERNELS_ONE_CHANNEL_SHIFTS(KERNELS_ONE_CHANNEL_LOOPS)
static_assert(kMaxFastShift == 20, "one loop per fast shift, 1 .. 20");
#define KERNELS_ONE_CHANNEL_RELU_ENTRY(SHIFT) row_pairs_relu_##SHIFT,
#define KERNELS_ONE_CHANNEL_SIGNED_ENTRY(SHIFT) row_pairs_signed_##SHIFT,
constexpr RowLoop kRowLoopsRelu[kMaxFastShift] = {KERNELS_ONE_CHANNEL_SHIFTS(KERNELS_ONE_CHANNEL_RELU_ENTRY)};
constexpr RowLoop kRowLoopsSigned[kMaxFastShift] = {KERNELS_ONE_CHANNEL_SHIFTS(KERNELS_ONE_CHANNEL_SIGNED_ENTRY)};
#undef KERNELS_ONE_CHANNEL_SIGNED_ENTRY
#undef KERNELS_ONE_CHANNEL_RELU_ENTRY
#undef KERNELS_ONE_CHANNEL_SHIFTS
#undef KERNELS_ONE_CHANNEL_LOOPS
#undef KERNELS_ONE_CHANNEL_SCALE_SIGNED
#undef KERNELS_ONE_CHANNEL_SCALE_RELU
#undef KERNELS_ONE_CHANNEL_LOOP
#undef KERNELS_ONE_CHANNEL_TAPS
#endif

/// The taps of the output at staged column q and, when kPair, of the next one (see the top).
template <bool kPair>
inline void window_taps(const int16_t* q, const ChannelRow& c, int32_t& a0, int32_t& a1) {
  for (int32_t fy = 0; fy < 3; ++fy) {
    const dsp::Pair v = dsp::read_pair(reinterpret_cast<const uint32_t*>(q + fy * kPitch), 0);
    a0 = dsp::smlabt(v.second, c.w[2 * fy + 1], dsp::smlad(v.first, c.w[2 * fy], a0));
    if (kPair) a1 = dsp::smlad(v.second, c.w[2 * fy + 1], dsp::smlatb(v.first, c.w[2 * fy], a1));
  }
}

template <OutputPath kPath>
void row_pairs(const int16_t* q, int8_t* o, const int16_t* q_end, const ChannelRow& c) {
#if defined(__ARM_FEATURE_DSP)
  (kPath == OutputPath::kFastRelu ? kRowLoopsRelu : kRowLoopsSigned)[c.shift - 1](q, o, q_end, &c);
#else
  const ChannelScale s{c.multiplier, c.shift, c.rounding};
  for (; q != q_end; q += 2, o += 2 * c.out_c) {
    int32_t a0 = c.start[0], a1 = c.start[1];
    window_taps<true>(q, c, a0, a1);
    o[0] = OutputStage::fast_output<kPath>(s, a0);
    o[c.out_c] = OutputStage::fast_output<kPath>(s, a1);
  }
#endif
}

/// Out of line: inlined into its caller, the staging's address costs the row loop a register.
template <OutputPath kPath>
__attribute__((noinline)) void one_channel_3x3(const ConvParams& p, const OutputStage& stage, const Dims& in,
                                               const int8_t* input, const int8_t* filter, const int32_t* bias,
                                               const Dims& out, int8_t* output, int16_t* staged) {
  const int32_t out_c = out.c, out_w = out.w, stride_h = p.stride_h;
  const int32_t band = band_output_rows(kStagedRows, stride_h);
  for (int32_t b = 0; b < out.n; ++b) {
    const int8_t* image = input + b * in.h * in.w;
    for (int32_t oy = 0; oy < out.h; oy += band) {
      const int32_t rows = out.h - oy < band ? out.h - oy : band;
      stage_rows(p, in, image, oy * stride_h - p.pad_top, (rows - 1) * stride_h + 3, out_w + 4, staged);
      for (int32_t oc = 0; oc < out_c; ++oc) {
        const int8_t* w = filter + oc * 9;
        const ChannelScale s = stage.channel(oc, kPath);
        const int32_t start = bias != nullptr ? 2 * bias[oc] : 0;
        const ChannelRow c{s.multiplier, s.rounding, out_c, s.shift, {start, start},
                           {dsp::pack(w[0], w[1]), dsp::pack(w[1], w[2]), dsp::pack(w[3], w[4]),
                            dsp::pack(w[4], w[5]), dsp::pack(w[6], w[7]), dsp::pack(w[7], w[8])}};
        int8_t* o = output + (b * out.h + oy) * out_w * out_c + oc;
        for (int32_t r = 0; r < rows; ++r, o += out_w * out_c) {
          const int16_t* q = staged + r * stride_h * kPitch;
          row_pairs<kPath>(q, o, q + (out_w & ~1), c);
          if (out_w % 2 != 0) {  // the last output of an odd row alone
            int32_t a0 = start, unused = 0;
            window_taps<false>(q + out_w - 1, c, a0, unused);
            o[(out_w - 1) * out_c] = OutputStage::fast_output<kPath>(s, a0);
          }
        }
      }
    }
  }
}

}  // namespace

uint32_t conv2d_one_channel_3x3_scratch_bytes(const ConvParams& p, const Dims& in, const Dims& filter_dims,
                                              const Dims& out) {
  // Staged columns up to x + 3 for the last output x (its pair load).
  if (filter_dims.h != 3 || filter_dims.w != 3 || in.c != 1 || p.dilation_h != 1 || p.dilation_w != 1 ||
      p.stride_w != 1 || out.w + 4 > kPitch || p.stride_h > kStagedRows - 3)
    return 0;
  return static_cast<uint32_t>(band_input_rows(kStagedRows, p.stride_h, out.h) * kPitchBytes);
}

bool conv2d_one_channel_3x3(const ConvParams& p, const OutputStage& stage, OutputPath path, const Dims& in,
                            const int8_t* input, const Dims& filter_dims, const int8_t* filter,
                            const int32_t* bias, const Dims& out, int8_t* output, void* scratch) {
  if (path == OutputPath::kReference || conv2d_one_channel_3x3_scratch_bytes(p, in, filter_dims, out) == 0)
    return false;
  int16_t* const staged = static_cast<int16_t*>(scratch);
  if (path == OutputPath::kFastRelu)
    one_channel_3x3<OutputPath::kFastRelu>(p, stage, in, input, filter, bias, out, output, staged);
  else
    one_channel_3x3<OutputPath::kFast>(p, stage, in, input, filter, bias, out, output, staged);
  return true;
}

}  // namespace kernels
