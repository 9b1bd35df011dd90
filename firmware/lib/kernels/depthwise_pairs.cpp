#include "depthwise_pairs.h"

#include "dsp.h"
#include "staging.h"

namespace kernels {

namespace {

/// The fast 3x3 path (kFast / kFastRelu outputs, stride_w 1 or 2) works on one channel at a time,
/// so that SMLAD can pair two taps of that channel: the input rows a band of output rows reads are
/// staged per channel as int16 (offset added, 0 where the window hangs over the padding), so a word
/// at even column j holds the pair (s[j], s[j+1]). With W01 = (w0, w1) and W12 = (w1, w2) of a
/// filter row, doubled:
///   stride 1, P_j = word at column j:  out[x]   = SMLAD(P_x, W01)   + SMLABT(P_x+2, W12)
///                                      out[x+1] = SMLATB(P_x, W01)  + SMLAD(P_x+2, W12)
///   stride 2, Q_k = word at column 2k: out[x]   = SMLAD(Q_x, W01)   + SMLABT(Q_x+1, W12)
/// so four outputs of a filter row take two or three loads of input, one of weights and eight
/// multiplies for twelve MACs, and along a row of one channel the output constants are a fixed
/// (multiplier, rounding, shift) for four outputs at a time. Staging four channels at a time
/// transposes NHWC words into the four channels' rows: four columns take four loads, four PKH,
/// eight SXTAB16 and four STRD, so the four channels' rows of one input row lie next to each other
/// (row r of channel k at word (4r + k) * kPairPitchWords), each store reaching all four with an
/// immediate offset.
constexpr int32_t kPairPitch = 34;                 // int16 columns per staged row
constexpr int32_t kPairPitchWords = kPairPitch / 2;
constexpr int32_t kPairRows = 16;                  // staged rows per channel
constexpr int32_t kPairRowWords = 4 * kPairPitchWords;  // from a row of a channel to its next
constexpr int32_t kPairStagedWords = kPairRows * kPairRowWords;  // at most 4.25 KB of scratch
constexpr int32_t kPairTableWords = 16;

/// The row steps of pair_tables, in bytes: of x (to the next row's first window), of o (from past
/// the row's groups to the next row's first output), of the groups' end; then the last row's end,
/// which pair_rows sets.
inline void pair_steps(int32_t x_step, int32_t o_step, int32_t end_step, uint32_t* table) {
  table[12] = static_cast<uint32_t>(x_step);
  table[13] = static_cast<uint32_t>(o_step);
  table[14] = static_cast<uint32_t>(end_step);
  table[15] = 0;
}

/// Columns 2m, 2m+1 of four channels from their two NHWC words v0 = (a0 a1 a2 a3), v1 = (b0 b1 b2
/// b3), offset, one word per channel (channel k's at d[k * kPairPitchWords]): the bytes are
/// regrouped first, (a0 a1 b0 b1) and (a2 a3 b2 b3) by two PKH, so that each SXTAB16 widens one
/// channel's pair (ak, bk): six operations instead of widening each word, then regrouping lanes.
__attribute__((always_inline)) inline void stage_word(uint32_t* d, uint32_t v0, uint32_t v1, uint32_t off) {
  const uint32_t low = dsp::pkhbt_lsl16(v0, v1), high = dsp::pkhtb_asr16(v1, v0);
  d[0] = dsp::sxtab16(off, low);
  d[kPairPitchWords] = dsp::sxtab16_ror8(off, low);
  d[2 * kPairPitchWords] = dsp::sxtab16(off, high);
  d[3 * kPairPitchWords] = dsp::sxtab16_ror8(off, high);
}

/// Columns 4m .. 4m + 3 of four channels from their four NHWC words, offset: stage_word's two
/// words of each channel at once, so each channel's pair is one STRD.
__attribute__((always_inline)) inline void stage_chunk(uint32_t* d, uint32_t v0, uint32_t v1, uint32_t v2,
                                                       uint32_t v3, uint32_t off) {
  const uint32_t low01 = dsp::pkhbt_lsl16(v0, v1), high01 = dsp::pkhtb_asr16(v1, v0);
  const uint32_t low23 = dsp::pkhbt_lsl16(v2, v3), high23 = dsp::pkhtb_asr16(v3, v2);
  dsp::write_pair(d, 0, dsp::sxtab16(off, low01), dsp::sxtab16(off, low23));
  dsp::write_pair(d, kPairPitchWords, dsp::sxtab16_ror8(off, low01), dsp::sxtab16_ror8(off, low23));
  dsp::write_pair(d, 2 * kPairPitchWords, dsp::sxtab16(off, high01), dsp::sxtab16(off, high23));
  dsp::write_pair(d, 3 * kPairPitchWords, dsp::sxtab16_ror8(off, high01), dsp::sxtab16_ror8(off, high23));
}

/// Doubled weight pairs of four channels from two taps' NHWC words: transposed as stage_word does,
/// each pair widened by SXTB16 then added to itself by an SXTAB16 of the same bytes; channel k's at
/// d[k * kPairTableWords].
__attribute__((always_inline)) inline void doubled_weights(uint32_t* d, uint32_t v0, uint32_t v1) {
  const uint32_t low = dsp::pkhbt_lsl16(v0, v1), high = dsp::pkhtb_asr16(v1, v0);
  d[0] = dsp::sxtab16(dsp::sxtb16(low), low);
  d[kPairTableWords] = dsp::sxtab16_ror8(dsp::sxtb16_ror8(low), low);
  d[2 * kPairTableWords] = dsp::sxtab16(dsp::sxtb16(high), high);
  d[3 * kPairTableWords] = dsp::sxtab16_ror8(dsp::sxtb16_ror8(high), high);
}

/// The tables of channels c0 .. c0 + 3, kPairTableWords apart. Per channel: W01, W12 of filter
/// rows 0..2 (doubled), multiplier, rounding, shift, the doubled bias twice (one LDRD starts two
/// accumulators), a spare word (unused), then the row steps pair_rows reads (set by pair_steps).
template <OutputPath kPath>
void pair_tables(const OutputStage& stage, const int8_t* filter, const int32_t* bias, int32_t c, int32_t c0,
                 uint32_t* table) {
  for (int32_t r = 0; r < 3; ++r) {
    const int8_t* const taps = filter + 3 * r * c + c0;
    const uint32_t t0 = dsp::read_u32(taps), t1 = dsp::read_u32(taps + c), t2 = dsp::read_u32(taps + 2 * c);
    doubled_weights(table + 2 * r, t0, t1);
    doubled_weights(table + 2 * r + 1, t1, t2);
  }
  const OutputStage local = stage;  // a copy the table's stores cannot alias
  for (int32_t k = 0; k < 4; ++k, table += kPairTableWords) {
    const ChannelScale s = local.channel(c0 + k, kPath);
    table[6] = static_cast<uint32_t>(s.multiplier);
    table[7] = static_cast<uint32_t>(s.rounding);
    table[8] = static_cast<uint32_t>(s.shift);
    table[9] = table[10] = static_cast<uint32_t>(bias != nullptr ? 2 * bias[c0 + k] : 0);
  }
}

/// Zeroes words [0, n) of four channels' staged rows at d.
inline void zero_words(uint32_t* d, int32_t n) {
  for (uint32_t* const end = d + n; d != end; ++d) {
    d[0] = 0;
    d[kPairPitchWords] = 0;
    d[2 * kPairPitchWords] = 0;
    d[3 * kPairPitchWords] = 0;
    dsp::keep_loads_in_order();  // keeps the loop a loop (no memset calls)
  }
}

/// One staged word of rows [d, d_end) (kPairRowWords apart) from the input words at src and
/// src + c of each row (row_bytes apart); kPad 1: the first column is padding (src holds the second),
/// 2: the second is.
template <int kPad>
inline void stage_column(uint32_t* d, uint32_t* d_end, const int8_t* src, int32_t c, int32_t row_bytes,
                         uint32_t zero_point, uint32_t off) {
  for (; d != d_end; d += kPairRowWords, src += row_bytes) {
    const uint32_t v0 = kPad == 1 ? zero_point : dsp::read_u32(src);
    const uint32_t v1 = kPad == 1 ? dsp::read_u32(src) : (kPad == 2 ? zero_point : dsp::read_u32(src + c));
    stage_word(d, v0, v1, off);
  }
}

/// Rows [d, d_stop) (kPairRowWords apart) of chunk_words (even, > 0) inside words each, from the
/// input columns at src (row_bytes apart), four columns a step (stage_chunk); on the device also a
/// row's edge words (left: the word before d, then src holds the edge's column; right) and the
/// last inside word of an odd count (odd), which elsewhere stage_column does. One asm block on the
/// device: with the first store last and post-indexed, and 3c in a register, a step is 23
/// instructions, an edge word 11 (its padding lane masked, not packed), the odd word 13, a row's
/// end 7 (its steps and the end read from memory: thirteen registers).
inline void stage_chunk_rows(const int8_t* src, uint32_t* d, uint32_t* d_stop, int32_t c, int32_t row_bytes,
                             int32_t chunk_words, uint32_t off, bool left, bool odd, bool right) {
#if defined(__ARM_FEATURE_DSP)
  static_assert(kPairPitchWords == 17 && kPairRowWords == 68, "the offsets below assume 68-byte channel rows");
  const int32_t consumed = (left ? 1 : 0) + 2 * chunk_words + (odd ? 2 : 0);  // input columns a row steps over
  const int32_t rows[3] = {row_bytes - consumed * c, 4 * (kPairRowWords - chunk_words - (odd ? 1 : 0)),
                           static_cast<int32_t>(reinterpret_cast<uintptr_t>(d_stop))};
  uint32_t* row_end = d + chunk_words;
  uint32_t v0, v1, v2, v3, t0, t1;
// The left edge word (padding, src's column) at d - 4; src steps to the chunks' first column. The
// bottom lanes from c >> 16, which is 0.
#define KERNELS_DW_STAGE_LEFT                     \
  "ldr %[v0], [%[src]]\n\t"                       \
  "add %[src], %[src], %[c]\n\t"                  \
  "sxtab16 %[v2], %[off], %[v0]\n\t"              \
  "sxtab16 %[v3], %[off], %[v0], ror #8\n\t"      \
  "lsl %[t0], %[v2], #16\n\t"                     \
  "str %[t0], [%[d], #-4]\n\t"                    \
  "lsl %[t1], %[v3], #16\n\t"                     \
  "str %[t1], [%[d], #64]\n\t"                    \
  "pkhtb %[t0], %[v2], %[c], asr #16\n\t"         \
  "str %[t0], [%[d], #132]\n\t"                   \
  "pkhtb %[t1], %[v3], %[c], asr #16\n\t"         \
  "str %[t1], [%[d], #200]\n\t"
// The odd word (src's two columns) at d; both step on.
#define KERNELS_DW_STAGE_ODD                      \
  "ldr %[v0], [%[src]]\n\t"                       \
  "ldr %[v1], [%[src], %[c]]\n\t"                 \
  "add %[src], %[src], %[c], lsl #1\n\t"          \
  "pkhbt %[t0], %[v0], %[v1], lsl #16\n\t"        \
  "pkhtb %[v1], %[v1], %[v0], asr #16\n\t"        \
  "sxtab16 %[v2], %[off], %[t0], ror #8\n\t"      \
  "str %[v2], [%[d], #68]\n\t"                    \
  "sxtab16 %[v2], %[off], %[v1]\n\t"              \
  "str %[v2], [%[d], #136]\n\t"                   \
  "sxtab16 %[v2], %[off], %[v1], ror #8\n\t"      \
  "str %[v2], [%[d], #204]\n\t"                   \
  "sxtab16 %[v2], %[off], %[t0]\n\t"              \
  "str %[v2], [%[d]], #4\n\t"
// The right edge word (src's column, padding) at d; neither steps (the row's steps allow for it).
#define KERNELS_DW_STAGE_RIGHT                    \
  "ldr %[v0], [%[src]]\n\t"                       \
  "sxtab16 %[v2], %[off], %[v0]\n\t"              \
  "sxtab16 %[v3], %[off], %[v0], ror #8\n\t"      \
  "uxth %[t0], %[v2]\n\t"                         \
  "str %[t0], [%[d]]\n\t"                         \
  "uxth %[t1], %[v3]\n\t"                         \
  "str %[t1], [%[d], #68]\n\t"                    \
  "lsr %[t0], %[v2], #16\n\t"                     \
  "str %[t0], [%[d], #136]\n\t"                   \
  "lsr %[t1], %[v3], #16\n\t"                     \
  "str %[t1], [%[d], #204]\n\t"
#define KERNELS_DW_STAGE_ROWS(LEFT, ODD, RIGHT)                                                          \
  __asm__ volatile("1:\n\t" LEFT                                                                          \
                   "2:\n\t"                                                                               \
                   "ldr %[v0], [%[src]]\n\t"                                                              \
                   "ldr %[v1], [%[src], %[c]]\n\t"                                                        \
                   "ldr %[v2], [%[src], %[c], lsl #1]\n\t"                                                \
                   "ldr %[v3], [%[src], %[c3]]\n\t"                                                       \
                   "add %[src], %[src], %[c], lsl #2\n\t"                                                 \
                   "pkhbt %[t0], %[v0], %[v1], lsl #16\n\t" /* columns 0, 1 of channels 0, 1 */           \
                   "pkhtb %[v1], %[v1], %[v0], asr #16\n\t" /* of channels 2, 3 */                        \
                   "pkhbt %[v0], %[v2], %[v3], lsl #16\n\t" /* columns 2, 3 of channels 0, 1 */           \
                   "pkhtb %[v3], %[v3], %[v2], asr #16\n\t" /* of channels 2, 3 */                        \
                   "sxtab16 %[v2], %[off], %[t0], ror #8\n\t"                                             \
                   "sxtab16 %[t1], %[off], %[v0], ror #8\n\t"                                             \
                   "strd %[v2], %[t1], [%[d], #68]\n\t"                                                   \
                   "sxtab16 %[v2], %[off], %[v1]\n\t"                                                     \
                   "sxtab16 %[t1], %[off], %[v3]\n\t"                                                     \
                   "strd %[v2], %[t1], [%[d], #136]\n\t"                                                  \
                   "sxtab16 %[v2], %[off], %[v1], ror #8\n\t"                                             \
                   "sxtab16 %[t1], %[off], %[v3], ror #8\n\t"                                             \
                   "strd %[v2], %[t1], [%[d], #204]\n\t"                                                  \
                   "sxtab16 %[v2], %[off], %[t0]\n\t"                                                     \
                   "sxtab16 %[t1], %[off], %[v0]\n\t"                                                     \
                   "strd %[v2], %[t1], [%[d]], #8\n\t"                                                    \
                   "cmp %[d], %[row_end]\n\t"                                                             \
                   "bne 2b\n\t" ODD RIGHT                                                                 \
                   "ldrd %[t0], %[t1], [%[rows]]\n\t"                                                     \
                   "add %[src], %[src], %[t0]\n\t"                                                        \
                   "add %[d], %[d], %[t1]\n\t"                                                            \
                   "add %[row_end], %[row_end], #272\n\t"                                                 \
                   "ldr %[t0], [%[rows], #8]\n\t"                                                         \
                   "cmp %[d], %[t0]\n\t"                                                                  \
                   "bne 1b\n\t"                                                                           \
                   : [src] "+r"(src), [d] "+r"(d), [row_end] "+r"(row_end), [v0] "=&r"(v0), [v1] "=&r"(v1),  \
                     [v2] "=&r"(v2), [v3] "=&r"(v3), [t0] "=&r"(t0), [t1] "=&r"(t1)                       \
                   : [c] "r"(c), [c3] "r"(3 * c), [off] "r"(off), [rows] "r"(rows)                        \
                   : "cc", "memory")
  if (left && odd && right)
    KERNELS_DW_STAGE_ROWS(KERNELS_DW_STAGE_LEFT, KERNELS_DW_STAGE_ODD, KERNELS_DW_STAGE_RIGHT);
  else if (left && odd)
    KERNELS_DW_STAGE_ROWS(KERNELS_DW_STAGE_LEFT, KERNELS_DW_STAGE_ODD, "");
  else if (left && right)
    KERNELS_DW_STAGE_ROWS(KERNELS_DW_STAGE_LEFT, "", KERNELS_DW_STAGE_RIGHT);
  else if (left)
    KERNELS_DW_STAGE_ROWS(KERNELS_DW_STAGE_LEFT, "", "");
  else if (odd && right)
    KERNELS_DW_STAGE_ROWS("", KERNELS_DW_STAGE_ODD, KERNELS_DW_STAGE_RIGHT);
  else if (odd)
    KERNELS_DW_STAGE_ROWS("", KERNELS_DW_STAGE_ODD, "");
  else if (right)
    KERNELS_DW_STAGE_ROWS("", "", KERNELS_DW_STAGE_RIGHT);
  else
    KERNELS_DW_STAGE_ROWS("", "", "");
#undef KERNELS_DW_STAGE_LEFT
#undef KERNELS_DW_STAGE_ODD
#undef KERNELS_DW_STAGE_RIGHT
#undef KERNELS_DW_STAGE_ROWS
#else
  (void)left, (void)odd, (void)right;  // stage_column's loops stage those words here
  const int32_t src_skip = row_bytes - 2 * c * chunk_words;
  for (uint32_t* row_end = d + chunk_words; d != d_stop;
       d += kPairRowWords - chunk_words, row_end += kPairRowWords, src += src_skip) {
    for (; d != row_end; d += 2, src += 4 * c)
      stage_chunk(d, dsp::read_u32(src), dsp::read_u32(src + c), dsp::read_u32(src + 2 * c), dsp::read_u32(src + 3 * c),
                  off);
  }
#endif
}

/// Whether stage_chunk_rows stages a row's edge and odd words too (the device's asm does).
#if defined(__ARM_FEATURE_DSP)
constexpr bool kChunkRowsStageEdges = true;
#else
constexpr bool kChunkRowsStageEdges = false;
#endif

/// How stage_pairs splits a staged row, the same for every row and channel group of a layer: the
/// staged columns [0, need) hold input columns j - pad_left, inside for j in [j_lo, j_hi). A row's
/// words split into: words in the left padding, a word of padding then the first input column (odd
/// j_lo, left_edge), words of two input columns [m_lo, m_hi), a word of the last input column then
/// padding (odd j_hi, right_edge), words in the right padding. The words that only ever hold
/// padding are zeroed once per layer (zero_staged), the padding rows once per band. Padding in an edge word goes
/// through stage_word as the zero point (which the offset brings to 0), so edge words cost what
/// inside words do.
struct StagePlan {
  int32_t c, row_bytes, words;  ///< channels, bytes per input row, staged words per row
  int32_t first_offset;         ///< bytes from a row's start to input column j_lo - pad_left
  int32_t middle_offset, right_offset;  ///< from there to the first inside word's, the right edge's
  int32_t m_lo, m_hi, chunk_words;      ///< inside words; the first chunk_words (even) by stage_chunk
  bool empty, left_edge, right_edge;    ///< empty: no input column reaches the staged columns
  uint32_t zero_point, off;
};

inline StagePlan stage_plan(const ConvParams& p, const Dims& in, int32_t need) {
  StagePlan s{};
  s.c = in.c;
  s.row_bytes = in.w * in.c;
  s.words = need / 2;
  const int32_t j_lo = p.pad_left < need ? p.pad_left : need;
  const int32_t j_hi = p.pad_left + in.w < need ? p.pad_left + in.w : need;
  s.empty = j_hi <= j_lo;
  s.zero_point = 0x01010101u * static_cast<uint8_t>(-p.input_offset);
  s.off = dsp::pack(p.input_offset, p.input_offset);
  if (s.empty) return s;
  // (both edges in one word would need j_hi == j_lo + 1 with j_lo odd: then j_hi is even)
  s.left_edge = (j_lo & 1) != 0;
  s.right_edge = (j_hi & 1) != 0;
  s.m_lo = (j_lo + 1) / 2;
  s.m_hi = j_hi / 2;
  s.chunk_words = (s.m_hi - s.m_lo) & ~1;
  s.first_offset = (j_lo - p.pad_left) * in.c;  // 0 unless the padding covers every staged column
  s.middle_offset = (s.left_edge ? 1 : 0) * in.c;
  s.right_offset = (j_hi - 1 - j_lo) * in.c;
  return s;
}

/// Stages input rows iy0 .. iy0 + rows - 1 of channels c0 .. c0 + 3 of `image` as int16 rows (see
/// StagePlan): channel k's row r at staged[k * kPairPitchWords + r * kPairRowWords]. Rows outside
/// the input are zeroed when zero_pad_rows (stagings that follow one of the same rows leave them).
inline void stage_pairs(const StagePlan& s, int32_t in_h, const int8_t* image, int32_t iy0, int32_t rows, int32_t c0,
                        bool zero_pad_rows, uint32_t* staged) {
  // Rows [r_lo, r_hi) are inside the input; the others are padding.
  const int32_t r_lo = iy0 < 0 ? (-iy0 < rows ? -iy0 : rows) : 0;
  int32_t r_hi = in_h - iy0 < rows ? in_h - iy0 : rows;
  if (r_hi < r_lo) r_hi = r_lo;
  if (zero_pad_rows) {
    for (int32_t r = 0; r < r_lo; ++r) zero_words(staged + r * kPairRowWords, s.words);
    for (int32_t r = r_hi; r < rows; ++r) zero_words(staged + r * kPairRowWords, s.words);
  }
  if (r_hi == r_lo || s.empty) return;  // (empty: zero_staged has zeroed every staged word for the layer)
  // The inside words four columns at a time, row by row (on the device with each row's edge and
  // odd words), then, where those are left, column by column across the rows for the edges and the
  // last inside word of an odd count, each loop with nothing but its two pointers to step.
  const int32_t c = s.c, row_bytes = s.row_bytes;
  const int8_t* const first = image + (iy0 + r_lo) * row_bytes + s.first_offset + c0;
  uint32_t* const top = staged + r_lo * kPairRowWords;
  uint32_t* const top_end = staged + r_hi * kPairRowWords;
  const int32_t m_lo = s.m_lo, m_hi = s.m_hi, chunk_words = s.chunk_words;
  const bool odd = chunk_words != m_hi - m_lo;
  const int8_t* const middle = first + s.middle_offset;
  if (chunk_words != 0) {
    stage_chunk_rows(s.left_edge && kChunkRowsStageEdges ? first : middle, top + m_lo, top_end + m_lo, c, row_bytes,
                     chunk_words, s.off, s.left_edge, odd, s.right_edge);
    if (kChunkRowsStageEdges) return;
  }
  if (s.left_edge) stage_column<1>(top + m_lo - 1, top_end + m_lo - 1, first, c, row_bytes, s.zero_point, s.off);
  if (s.right_edge)
    stage_column<2>(top + m_hi, top_end + m_hi, first + s.right_offset, c, row_bytes, s.zero_point, s.off);
  if (odd)
    stage_column<0>(top + m_hi - 1, top_end + m_hi - 1, middle + 2 * c * chunk_words, c, row_bytes, s.zero_point,
                    s.off);
}

/// Zeroes, in rows [0, rows) of the four channels (zero_words covers all four), the staged words
/// that stage_pairs never writes (padding columns): they then stay 0 for the whole layer. (Its
/// padding rows it zeroes itself.)
inline void zero_staged(const StagePlan& s, uint32_t* staged, int32_t rows) {
  const int32_t lo = s.empty ? s.words : s.m_lo - (s.left_edge ? 1 : 0);  // words [lo, hi) are written
  const int32_t hi = s.empty ? s.words : s.m_hi + (s.right_edge ? 1 : 0);
  for (int32_t r = 0; r < rows; ++r) {
    zero_words(staged + r * kPairRowWords, lo);
    zero_words(staged + r * kPairRowWords + hi, s.words - hi);
  }
}

/// Rows of output groups of four (at least one group, one row) of one channel: the first row's
/// groups from o to o_end (4 * c bytes apart), x at the staged word of its first window, then kEnd
/// (0, 2 or 3) more outputs; then further rows, each found by the steps in w[12..14], until the
/// row whose groups end at last_end. w: the channel's table (pair_tables). One asm block on the
/// device (fourteen registers: the row's pointers, four accumulators, the input and weight words,
/// at stride 1 the output shift); the other output constants are reloaded per group, and the row
/// steps per row, into the registers the multiplies have finished with. A group's outputs branch
/// on the shift to one of twenty copies of its end (see KERNELS_DW_OUT4); the outputs after the
/// groups keep the ASR, which would take a branch of their own.
#if !defined(__ARM_FEATURE_DSP)
/// Outputs 0 .. n - 1 of the group at x, o (the portable twin of a device group): with the table's
/// filter-row pairs (w[2r], w[2r + 1]) = ((w0, w1), (w1, w2)), the bias in w[9], see the top.
template <OutputPath kPath, int kStride>
inline void group_outputs(const uint32_t* x, const uint32_t* w, const ChannelScale& s, int32_t n, int32_t c,
                          int8_t* o) {
  for (int32_t k = 0; k < n; ++k) {
    int32_t a = static_cast<int32_t>(w[9]);
    for (int32_t r = 0; r < 3; ++r) {
      const uint32_t* q = x + r * kPairRowWords;
      const uint32_t w01 = w[2 * r], w12 = w[2 * r + 1];
      const int32_t j = k / 2;  // stride 1: outputs 2j and 2j + 1 read P at columns 2j and 2j + 2
      if (kStride == 1 && k % 2 == 0)
        a = dsp::smlabt(q[j + 1], w12, dsp::smlad(q[j], w01, a));
      else if (kStride == 1)
        a = dsp::smlad(q[j + 1], w12, dsp::smlatb(q[j], w01, a));
      else  // stride 2: output k reads Q at columns 2k and 2k + 2
        a = dsp::smlabt(q[k + 1], w12, dsp::smlad(q[k], w01, a));
    }
    o[k * c] = OutputStage::fast_output<kPath>(s, a);
  }
}
#endif

template <OutputPath kPath, int kStride, int kEnd>
__attribute__((noinline)) void pair_rows(const uint32_t* x, int8_t* o, int8_t* o_end, int8_t* last_end, int32_t c,
                                         uint32_t* w) {
  w[15] = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(last_end));
#if defined(__ARM_FEATURE_DSP)
  static_assert(kPairRowWords == 68, "the offsets below assume a channel's rows 272 bytes apart");
  static_assert(kMaxFastShift == 20, "KERNELS_DW_SHIFTS lists the shifts 1 .. kMaxFastShift");
  int32_t a0, a1, a2, a3;
  uint32_t p0, p1, p2, v0, v1;
// The output stage of accumulator A, as OutputStage::fast_output, with the multiplier in v0 and
// the rounding in v1: PRE_* the multiply-high (temporary T), OUT_* all of it with the shift in SH,
// storing at ADDR.
#define KERNELS_DW_PRE_FAST(A, T)                \
  "add %[" T "], %[v1], %[" A "], asr #31\n\t"  \
  "smmlar %[" A "], %[" A "], %[v0], %[" T "]\n\t"
#define KERNELS_DW_PRE_RELU(A, T) "smmlar %[" A "], %[" A "], %[v0], %[v1]\n\t"
#define KERNELS_DW_OUT(PRE, A, T, SH, ADDR)     \
  PRE(A, T)                                      \
  "asr %[" A "], %[" A "], %[" SH "]\n\t"        \
  "ssat %[" A "], #8, %[" A "]\n\t"              \
  "strb %[" A "], " ADDR "\n\t"
#define KERNELS_DW_OUT_FAST(A, T, SH, ADDR) KERNELS_DW_OUT(KERNELS_DW_PRE_FAST, A, T, SH, ADDR)
#define KERNELS_DW_OUT_RELU(A, T, SH, ADDR) KERNELS_DW_OUT(KERNELS_DW_PRE_RELU, A, T, SH, ADDR)
// The four outputs of a group and the loop: the multiply-highs (PRE), then a table branch on the
// channel's shift (SH, 1 .. kMaxFastShift) to a block that has it as SSAT's immediate ASR, which
// saves the four ASRs. The table's entry 0 is never taken (the fast paths shift by 1 or more).
#define KERNELS_DW_SHIFTS 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20
#define KERNELS_DW_STR(...) #__VA_ARGS__
#define KERNELS_DW_XSTR(...) KERNELS_DW_STR(__VA_ARGS__)
#define KERNELS_DW_OUT4(PRE, T, SH)                                                   \
  "ldrd %[v0], %[v1], [%[w], #24]\n\t"                                                \
  KERNELS_DW_LOAD_SHIFT(SH)                                                            \
  PRE("a0", T) PRE("a1", T) PRE("a2", T) PRE("a3", T)                                  \
  "tbh [pc, %[" SH "], lsl #1]\n"                                                     \
  ".Ltable%=:\n\t"                                                                    \
  ".hword (.Lshift%=_1 - .Ltable%=) / 2\n\t"                                          \
  ".irp e, " KERNELS_DW_XSTR(KERNELS_DW_SHIFTS) "\n\t"                                \
  ".hword (.Lshift%=_\\e - .Ltable%=) / 2\n\t"                                        \
  ".endr\n\t"                                                                         \
  ".irp e, " KERNELS_DW_XSTR(KERNELS_DW_SHIFTS) "\n"                                   \
  ".Lshift%=_\\e:\n\t"                                                                \
  "ssat %[a0], #8, %[a0], asr #\\e\n\t"                                                \
  "ssat %[a1], #8, %[a1], asr #\\e\n\t"                                                \
  "ssat %[a2], #8, %[a2], asr #\\e\n\t"                                                \
  "ssat %[a3], #8, %[a3], asr #\\e\n\t"                                                \
  "strb %[a0], [%[o]]\n\t"                                                              \
  "strb %[a1], [%[o], %[c]]\n\t"                                                        \
  "add %[o], %[o], %[c], lsl #1\n\t"                                                    \
  "strb %[a2], [%[o]]\n\t"                                                              \
  "strb %[a3], [%[o], %[c]]\n\t"                                                        \
  "add %[o], %[o], %[c], lsl #1\n\t"                                                    \
  "cmp %[o], %[end]\n\t"                                                                \
  "bne 1b\n\t"                                                                          \
  "b .Lrow_end%=\n\t"                                                                   \
  ".endr\n"
// The next row (falling into the groups' loop), unless this one ends at last_end (w[15]).
#define KERNELS_DW_ROW_END                              \
  "ldrd %[v0], %[v1], [%[w], #56]\n\t"                  \
  "cmp %[end], %[v1]\n\t"                               \
  "beq 2f\n\t"                                          \
  "add %[end], %[end], %[v0]\n\t"                       \
  "ldrd %[v0], %[v1], [%[w], #48]\n\t"                  \
  "add %[x], %[x], %[v0]\n\t"                           \
  "add %[o], %[o], %[v1]\n\t"
// Two outputs at x, o after a row's groups (kEnd 2): bias, three filter rows, outputs.
#define KERNELS_DW_PAIR(ROW, OUT, T, SH)                   \
  "ldrd %[a0], %[a1], [%[w], #36]\n\t"                   \
  ROW(0, 0) ROW(272, 8) ROW(544, 16)                       \
  "ldrd %[v0], %[v1], [%[w], #24]\n\t"                   \
  KERNELS_DW_LOAD_SHIFT(SH)                               \
  OUT("a0", T, SH, "[%[o]]") OUT("a1", T, SH, "[%[o], %[c]]")
// Three outputs at x, o after a row's groups (kEnd 3): bias (a1 starts from a0 in the first
// filter row), three filter rows, outputs.
#define KERNELS_DW_TRIPLE(ROW, OUT, T, SH)                   \
  "ldrd %[a0], %[a2], [%[w], #36]\n\t"                   \
  ROW(0, 0, "a0") ROW(272, 8, "a1") ROW(544, 16, "a1")    \
  "ldrd %[v0], %[v1], [%[w], #24]\n\t"                   \
  KERNELS_DW_LOAD_SHIFT(SH)                               \
  OUT("a0", T, SH, "[%[o]]") OUT("a1", T, SH, "[%[o], %[c]]") OUT("a2", T, SH, "[%[o], %[c], lsl #1]")
// The asm statement: the groups of a row (GROUP), whose last one branches back to the end (END, or
// nothing) and the next row, placed before the groups so that a row end takes no branch of its own.
// The six loops of a stride (S1 or S2): output form (kFast, kFastRelu) x row end (kEnd 4, 2, 3); T
// and SH name the scratch and shift registers of its output stage.
#define KERNELS_DW_VARIANTS(S, T, SH)                                                                        \
  if (kPath == OutputPath::kFast && kEnd == 2)                                                               \
    KERNELS_DW_ASM(KERNELS_DW_##S##_GROUP(KERNELS_DW_PRE_FAST),                                              \
                   KERNELS_DW_PAIR(KERNELS_DW_##S##_PAIR_ROW, KERNELS_DW_OUT_FAST, T, SH), KERNELS_DW_##S##_OPERANDS, \
                   KERNELS_DW_##S##_INPUTS);                                                                 \
  else if (kPath == OutputPath::kFast && kEnd == 3)                                                          \
    KERNELS_DW_ASM(KERNELS_DW_##S##_GROUP(KERNELS_DW_PRE_FAST),                                              \
                   KERNELS_DW_TRIPLE(KERNELS_DW_##S##_TRIPLE_ROW, KERNELS_DW_OUT_FAST, T, SH),                 \
                   KERNELS_DW_##S##_OPERANDS, KERNELS_DW_##S##_INPUTS);                                      \
  else if (kPath == OutputPath::kFast)                                                                       \
    KERNELS_DW_ASM(KERNELS_DW_##S##_GROUP(KERNELS_DW_PRE_FAST), "", KERNELS_DW_##S##_OPERANDS,               \
                   KERNELS_DW_##S##_INPUTS);                                                                 \
  else if (kEnd == 2)                                                                                        \
    KERNELS_DW_ASM(KERNELS_DW_##S##_GROUP(KERNELS_DW_PRE_RELU),                                              \
                   KERNELS_DW_PAIR(KERNELS_DW_##S##_PAIR_ROW, KERNELS_DW_OUT_RELU, T, SH), KERNELS_DW_##S##_OPERANDS, \
                   KERNELS_DW_##S##_INPUTS);                                                                 \
  else if (kEnd == 3)                                                                                        \
    KERNELS_DW_ASM(KERNELS_DW_##S##_GROUP(KERNELS_DW_PRE_RELU),                                              \
                   KERNELS_DW_TRIPLE(KERNELS_DW_##S##_TRIPLE_ROW, KERNELS_DW_OUT_RELU, T, SH),                 \
                   KERNELS_DW_##S##_OPERANDS, KERNELS_DW_##S##_INPUTS);                                      \
  else                                                                                                       \
    KERNELS_DW_ASM(KERNELS_DW_##S##_GROUP(KERNELS_DW_PRE_RELU), "", KERNELS_DW_##S##_OPERANDS,               \
                   KERNELS_DW_##S##_INPUTS);
#define KERNELS_DW_ASM(GROUP, END, OPERANDS, INPUTS) \
  __asm__ volatile("b 1f\n.Lrow_end%=:\n\t" END KERNELS_DW_ROW_END "1:\n\t" GROUP "2:\n\t"                  \
                   : OPERANDS                                                                             \
                   : INPUTS                                                                               \
                   : "cc", "memory")
  if (kStride == 1) {
// Filter row at R bytes, weights at W bytes; FIRST: accumulators start from the doubled bias.
#define KERNELS_DW_S1_FIRST(R, W)                  \
  "ldrd %[a0], %[a3], [%[w], #36]\n\t"             \
  "ldrd %[p0], %[p1], [%[x], #" #R "]\n\t"         \
  "ldrd %[v0], %[v1], [%[w], #" #W "]\n\t"         \
  "smlatb %[a1], %[p0], %[v0], %[a0]\n\t"          \
  "smlad %[a0], %[p0], %[v0], %[a0]\n\t"           \
  "smlad %[a2], %[p1], %[v0], %[a3]\n\t"           \
  "smlatb %[a3], %[p1], %[v0], %[a3]\n\t"          \
  "smlabt %[a0], %[p1], %[v1], %[a0]\n\t"          \
  "smlad %[a1], %[p1], %[v1], %[a1]\n\t"           \
  "ldr %[p0], [%[x], #" #R "+8]\n\t"               \
  "smlabt %[a2], %[p0], %[v1], %[a2]\n\t"          \
  "smlad %[a3], %[p0], %[v1], %[a3]\n\t"
#define KERNELS_DW_S1_ROW(R, W, LAST_LOAD)         \
  "ldrd %[p0], %[p1], [%[x], #" #R "]\n\t"         \
  "ldrd %[v0], %[v1], [%[w], #" #W "]\n\t"         \
  "smlad %[a0], %[p0], %[v0], %[a0]\n\t"           \
  "smlatb %[a1], %[p0], %[v0], %[a1]\n\t"          \
  "smlad %[a2], %[p1], %[v0], %[a2]\n\t"           \
  "smlatb %[a3], %[p1], %[v0], %[a3]\n\t"          \
  "smlabt %[a0], %[p1], %[v1], %[a0]\n\t"          \
  "smlad %[a1], %[p1], %[v1], %[a1]\n\t"           \
  LAST_LOAD                                        \
  "smlabt %[a2], %[p0], %[v1], %[a2]\n\t"          \
  "smlad %[a3], %[p0], %[v1], %[a3]\n\t"
// One filter row of the pair: P_x, P_x+2 at R bytes, weights at W bytes.
#define KERNELS_DW_S1_PAIR_ROW(R, W)               \
  "ldrd %[p0], %[p1], [%[x], #" #R "]\n\t"         \
  "ldrd %[v0], %[v1], [%[w], #" #W "]\n\t"         \
  "smlad %[a0], %[p0], %[v0], %[a0]\n\t"           \
  "smlatb %[a1], %[p0], %[v0], %[a1]\n\t"          \
  "smlabt %[a0], %[p1], %[v1], %[a0]\n\t"          \
  "smlad %[a1], %[p1], %[v1], %[a1]\n\t"
// One filter row of the triple: P_x, P_x+2, P_x+4 at R bytes, weights at W bytes; A1: a1's start.
#define KERNELS_DW_S1_TRIPLE_ROW(R, W, A1)         \
  "ldrd %[p0], %[p1], [%[x], #" #R "]\n\t"         \
  "ldrd %[v0], %[v1], [%[w], #" #W "]\n\t"         \
  "smlatb %[a1], %[p0], %[v0], %[" A1 "]\n\t"      \
  "smlad %[a0], %[p0], %[v0], %[a0]\n\t"           \
  "smlabt %[a0], %[p1], %[v1], %[a0]\n\t"          \
  "smlad %[a1], %[p1], %[v1], %[a1]\n\t"           \
  "smlad %[a2], %[p1], %[v0], %[a2]\n\t"           \
  "ldr %[p0], [%[x], #" #R "+8]\n\t"               \
  "smlabt %[a2], %[p0], %[v1], %[a2]\n\t"
// rows 1, 2, then 0, whose last load steps x to the next group (four columns, 8 bytes)
#define KERNELS_DW_S1_BODY(STEP)                                                          \
  KERNELS_DW_S1_FIRST(272, 8) KERNELS_DW_S1_ROW(544, 16, "ldr %[p0], [%[x], #552]\n\t") \
  KERNELS_DW_S1_ROW(0, 0, "ldr %[p0], [%[x], #8]" STEP "\n\t")
#define KERNELS_DW_S1_GROUP(PRE) KERNELS_DW_S1_BODY("!") KERNELS_DW_OUT4(PRE, "p0", "sh")
// Stride 1 leaves a fourteenth register for the shift, loaded once.
#define KERNELS_DW_LOAD_SHIFT(SH) ""
#define KERNELS_DW_S1_INPUTS [c] "r"(c), [w] "r"(w), [sh] "r"(shift)
    const int32_t shift = static_cast<int32_t>(w[8]);
#define KERNELS_DW_S1_OPERANDS                                                                          \
  [x] "+r"(x), [o] "+r"(o), [end] "+r"(o_end), [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), \
      [p0] "=&r"(p0), [p1] "=&r"(p1), [v0] "=&r"(v0), [v1] "=&r"(v1)
    KERNELS_DW_VARIANTS(S1, "p0", "sh")
#undef KERNELS_DW_S1_PAIR_ROW
#undef KERNELS_DW_S1_TRIPLE_ROW
#undef KERNELS_DW_S1_GROUP
#undef KERNELS_DW_S1_BODY
#undef KERNELS_DW_S1_OPERANDS
#undef KERNELS_DW_S1_INPUTS
#undef KERNELS_DW_LOAD_SHIFT
    (void)p2;
#undef KERNELS_DW_S1_FIRST
#undef KERNELS_DW_S1_ROW
  } else {
#define KERNELS_DW_S2_FIRST(R, W)                  \
  "ldrd %[a0], %[a3], [%[w], #36]\n\t"             \
  "ldrd %[p0], %[p1], [%[x], #" #R "]\n\t"         \
  "ldrd %[v0], %[v1], [%[w], #" #W "]\n\t"         \
  "smlad %[a1], %[p1], %[v0], %[a0]\n\t"           \
  "smlad %[a0], %[p0], %[v0], %[a0]\n\t"           \
  "smlabt %[a0], %[p1], %[v1], %[a0]\n\t"          \
  "ldrd %[p2], %[p0], [%[x], #" #R "+8]\n\t"       \
  "smlabt %[a1], %[p2], %[v1], %[a1]\n\t"          \
  "smlad %[a2], %[p2], %[v0], %[a3]\n\t"           \
  "smlabt %[a2], %[p0], %[v1], %[a2]\n\t"          \
  "smlad %[a3], %[p0], %[v0], %[a3]\n\t"           \
  "ldr %[p1], [%[x], #" #R "+16]\n\t"              \
  "smlabt %[a3], %[p1], %[v1], %[a3]\n\t"
#define KERNELS_DW_S2_ROW(R, W, LAST_LOAD)         \
  "ldrd %[p0], %[p1], [%[x], #" #R "]\n\t"         \
  "ldrd %[v0], %[v1], [%[w], #" #W "]\n\t"         \
  "smlad %[a0], %[p0], %[v0], %[a0]\n\t"           \
  "smlabt %[a0], %[p1], %[v1], %[a0]\n\t"          \
  "smlad %[a1], %[p1], %[v0], %[a1]\n\t"           \
  "ldrd %[p2], %[p0], [%[x], #" #R "+8]\n\t"       \
  "smlabt %[a1], %[p2], %[v1], %[a1]\n\t"          \
  "smlad %[a2], %[p2], %[v0], %[a2]\n\t"           \
  "smlabt %[a2], %[p0], %[v1], %[a2]\n\t"          \
  "smlad %[a3], %[p0], %[v0], %[a3]\n\t"           \
  LAST_LOAD                                        \
  "smlabt %[a3], %[p1], %[v1], %[a3]\n\t"
// One filter row of the pair: Q_x, Q_x+1, Q_x+2 at R bytes, weights at W bytes.
#define KERNELS_DW_S2_PAIR_ROW(R, W)               \
  "ldrd %[p0], %[p1], [%[x], #" #R "]\n\t"         \
  "ldrd %[v0], %[v1], [%[w], #" #W "]\n\t"         \
  "smlad %[a0], %[p0], %[v0], %[a0]\n\t"           \
  "smlabt %[a0], %[p1], %[v1], %[a0]\n\t"          \
  "smlad %[a1], %[p1], %[v0], %[a1]\n\t"           \
  "ldr %[p0], [%[x], #" #R "+8]\n\t"               \
  "smlabt %[a1], %[p0], %[v1], %[a1]\n\t"
// One filter row of the triple: Q_x .. Q_x+3 at R bytes, weights at W bytes; A1: a1's start.
#define KERNELS_DW_S2_TRIPLE_ROW(R, W, A1)         \
  "ldrd %[p0], %[p1], [%[x], #" #R "]\n\t"         \
  "ldrd %[v0], %[v1], [%[w], #" #W "]\n\t"         \
  "smlad %[a1], %[p1], %[v0], %[" A1 "]\n\t"       \
  "smlad %[a0], %[p0], %[v0], %[a0]\n\t"           \
  "smlabt %[a0], %[p1], %[v1], %[a0]\n\t"          \
  "ldrd %[p2], %[p0], [%[x], #" #R "+8]\n\t"       \
  "smlabt %[a1], %[p2], %[v1], %[a1]\n\t"          \
  "smlad %[a2], %[p2], %[v0], %[a2]\n\t"           \
  "smlabt %[a2], %[p0], %[v1], %[a2]\n\t"
// rows 1, 2, then 0, whose last load steps x to the next group (eight columns, 16 bytes)
#define KERNELS_DW_S2_BODY(STEP)                                                          \
  KERNELS_DW_S2_FIRST(272, 8) KERNELS_DW_S2_ROW(544, 16, "ldr %[p1], [%[x], #560]\n\t") \
  KERNELS_DW_S2_ROW(0, 0, "ldr %[p1], [%[x], #16]" STEP "\n\t")
#define KERNELS_DW_S2_GROUP(PRE) KERNELS_DW_S2_BODY("!") KERNELS_DW_OUT4(PRE, "p0", "p2")
// Stride 2 has all fourteen registers taken: the shift is reloaded per group.
#define KERNELS_DW_LOAD_SHIFT(SH) "ldr %[" SH "], [%[w], #32]\n\t"
#define KERNELS_DW_S2_INPUTS [c] "r"(c), [w] "r"(w)
#define KERNELS_DW_S2_OPERANDS                                                                          \
  [x] "+r"(x), [o] "+r"(o), [end] "+r"(o_end), [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), \
      [p0] "=&r"(p0), [p1] "=&r"(p1), [p2] "=&r"(p2), [v0] "=&r"(v0), [v1] "=&r"(v1)
    KERNELS_DW_VARIANTS(S2, "p0", "p2")
#undef KERNELS_DW_S2_PAIR_ROW
#undef KERNELS_DW_S2_TRIPLE_ROW
#undef KERNELS_DW_S2_GROUP
#undef KERNELS_DW_S2_BODY
#undef KERNELS_DW_S2_OPERANDS
#undef KERNELS_DW_S2_INPUTS
#undef KERNELS_DW_LOAD_SHIFT
#undef KERNELS_DW_S2_FIRST
#undef KERNELS_DW_S2_ROW
  }
#undef KERNELS_DW_OUT_FAST
#undef KERNELS_DW_OUT_RELU
#undef KERNELS_DW_OUT4
#undef KERNELS_DW_PRE_FAST
#undef KERNELS_DW_PRE_RELU
#undef KERNELS_DW_OUT
#undef KERNELS_DW_SHIFTS
#undef KERNELS_DW_STR
#undef KERNELS_DW_XSTR
#undef KERNELS_DW_ROW_END
#undef KERNELS_DW_PAIR
#undef KERNELS_DW_VARIANTS
#undef KERNELS_DW_TRIPLE
#undef KERNELS_DW_ASM
#else
  // The same sums and output stage, in the device's order (any order gives the same bits).
  const ChannelScale s{static_cast<int32_t>(w[6]), static_cast<int32_t>(w[8]), static_cast<int32_t>(w[7])};
  for (;; x += 2 * kStride, o += 4 * c) {
    if (o == o_end) {  // the row's groups are done
      if (kEnd == 2 || kEnd == 3) group_outputs<kPath, kStride>(x, w, s, kEnd, c, o);  // a short last group
      if (o_end == last_end) break;
      o_end += static_cast<int32_t>(w[14]);
      x += static_cast<int32_t>(w[12]) / 4 - 2 * kStride;  // the loop's step is part of the row step
      o += static_cast<int32_t>(w[13]) - 4 * c;
      continue;
    }
    group_outputs<kPath, kStride>(x, w, s, 4, c, o);
  }
#endif
}

/// How the rows of one layer split into groups of four outputs: every row is whole groups, then
/// for widths 4k + 3 (k > 0) three more outputs (three sums), for widths 4k + 1 and
/// 4k + 2 a pair; widths below four are rounded up to a group. Extra outputs (width 4k + 1, or
/// below four) land on the first pixels of the same channel's next row (NHWC, c bytes apart), which
/// that row rewrites afterwards. So the rows of a band are one run of groups, and only the layer's
/// very last row, whose extra outputs would fall outside the output, may end with a tail. Extra
/// outputs read staged columns past the row's, which hold padding (zeros); `need` leaves room for
/// the three to read as far as a group would.
struct PairGeometry {
  int32_t groups;  ///< groups per row
  int32_t end;     ///< outputs after them: 0, 2 or 3
  int32_t extra;   ///< outputs computed per row beyond out_w
  int32_t need;    ///< staged columns (even) the row reads
};

inline PairGeometry pair_geometry(int32_t stride_w, int32_t out_w) {
  const int32_t rem = out_w % 4;
  const int32_t end = out_w < 4 || rem == 0 ? 0 : (rem == 3 ? 3 : 2);
  const int32_t groups = end == 0 ? (out_w + 3) / 4 : out_w / 4;
  // columns read: a group (or the three) at x reads to 4x + 5 (stride 1), 8x + 9 (stride 2); the
  // pair to x + 3, 2x + 5
  const int32_t blocks = groups + (end == 3 ? 1 : 0);
  const int32_t need = stride_w == 1 ? 4 * blocks + (end == 2 ? 2 : 0) + 2 : 8 * blocks + (end == 2 ? 4 : 0) + 2;
  return {groups, end, 4 * groups + end - out_w, need};
}

/// The group of a row that ends at output `end` (> 0), starting at max(0, end - 4): recomputes
/// outputs before `end` (same bits) when it can start at a whole staged word, otherwise goes
/// through a scratch and copies what lies before `end`.
template <OutputPath kPath, int kStride>
void pair_tail(const uint32_t* x, int8_t* o, int32_t end, int32_t c, uint32_t* w) {
  const int32_t ox = end - 4;
  if (ox >= 0 && (kStride == 2 || (ox & 1) == 0)) {
    pair_rows<kPath, kStride, 0>(x + ox * kStride / 2, o + ox * c, o + end * c, o + end * c, c, w);
    return;
  }
  const int32_t first = ox < 0 ? 0 : ox + 1;  // stride 1 with odd ox: the next, even, column
  int8_t scratch[4];  // four outputs: on the stack, too small for the planner to gain by seeing it
  pair_rows<kPath, kStride, 0>(x + first * kStride / 2, scratch, scratch + 4, scratch + 4, 1, w);
  for (int32_t i = first; i < end; ++i) o[i * c] = scratch[i - first];
}

/// The rows of the four channels of a band: rows [0, rows) of the staged channels (stride_h staged
/// rows apart) to the output rows at o (out_w * c bytes apart), channel k's with the table at
/// table[k * kPairTableWords]. `last`: the band ends the layer.
template <OutputPath kPath, int kStride, int kEnd>
void pair_band(const uint32_t* staged, int8_t* o, int32_t rows, int32_t stride_h, int32_t out_w, int32_t c,
               const PairGeometry& g, bool last, uint32_t* table) {
  const int32_t row_bytes = out_w * c, span = 4 * g.groups * c;
  const bool tail = last && g.extra != 0;  // the last row's extra outputs have nowhere to go
  const int32_t full_rows = tail ? rows - 1 : rows;
  const int32_t last_end = (full_rows - 1) * row_bytes + span;
  for (int32_t k = 0; k < 4; ++k, ++o, table += kPairTableWords) {
    const uint32_t* x = staged + k * kPairPitchWords;
    if (full_rows > 0) pair_rows<kPath, kStride, kEnd>(x, o, o + span, o + last_end, c, table);
    if (tail) {  // whole groups up to the last one that fits, then the last four outputs
      x += full_rows * stride_h * kPairRowWords;
      int8_t* const ot = o + full_rows * row_bytes;
      const int32_t groups = kEnd != 0 ? g.groups : g.groups - 1;
      if (groups > 0) pair_rows<kPath, kStride, 0>(x, ot, ot + 4 * groups * c, ot + 4 * groups * c, c, table);
      pair_tail<kPath, kStride>(x, ot, out_w, c, table);
    }
  }
}

/// Staged columns of the pair path for this layer, or 0 when it does not apply: stride_w 1 or 2,
/// rows that fit, at most out_w extra outputs per row (so they land on the next row only), and at
/// least eight outputs per channel: below that its per-channel setup (tables, a call per channel)
/// costs more than it saves (mbv2's row-streamed blocks call with one row of four).
inline int32_t pair_path_columns(const ConvParams& p, const Dims& out) {
  if ((p.stride_w != 1 && p.stride_w != 2) || out.w < 2 || out.n * out.h * out.w < 8) return 0;
  const int32_t need = pair_geometry(p.stride_w, out.w).need;
  return need <= kPairPitch ? need : 0;
}

/// What every band of a layer shares (pairs_layer fills it once).
struct PairLayer {
  const OutputStage* stage;
  const int8_t* filter;
  const int32_t* bias;
  StagePlan plan;
  PairGeometry g;
  int32_t c, in_h, stride_h, out_w, by_four;
  uint32_t* staged;
  uint32_t* table;
};

/// One band of `rows` output rows from o, reading input rows from iy0 of `image`: per four
/// channels of [0, by_four), their tables, their staged rows (the padding rows zeroed at the first
/// four: the later ones stage the same rows), their outputs. `last`: the band ends the layer.
template <OutputPath kPath, int kStride, int kEnd>
__attribute__((noinline)) void pairs_band(const PairLayer& l, const int8_t* image, int32_t iy0, int32_t rows,
                                          bool last, int8_t* o) {
  const int32_t staged_rows = (rows - 1) * l.stride_h + 3;
  for (int32_t c0 = 0; c0 < l.by_four; c0 += 4) {
    pair_tables<kPath>(*l.stage, l.filter, l.bias, l.c, c0, l.table);
    stage_pairs(l.plan, l.in_h, image, iy0, staged_rows, c0, c0 == 0, l.staged);
    pair_band<kPath, kStride, kEnd>(l.staged, o + c0, rows, l.stride_h, l.out_w, l.c, l.g, last, l.table);
  }
}

/// 3x3, dilation 1, stride_w 1 or 2, kFast / kFastRelu, channels [0, by_four), four at a time.
template <OutputPath kPath, int kStride>
__attribute__((noinline)) void pairs_layer(const ConvParams& p, const Dims& in, const int8_t* input,
                                                  const int8_t* filter, const int32_t* bias, const Dims& out,
                                                  const OutputStage& stage, int32_t by_four, int8_t* output,
                                                  uint32_t* scratch) {
  const int32_t c = in.c;
  const PairGeometry g = pair_geometry(kStride, out.w);
  // The tables first, then the staged rows (kPairRowWords words a row).
  const PairLayer l{&stage,   filter,  bias,  stage_plan(p, in, g.need), g, c, in.h, p.stride_h, out.w, by_four,
                    scratch + 4 * kPairTableWords, scratch};
  const int32_t band = band_output_rows(kPairRows, p.stride_h);
  const int32_t x_step = 4 * (p.stride_h * kPairRowWords - 2 * kStride * g.groups);
  const int32_t staged_rows = band_input_rows(kPairRows, p.stride_h, out.h);  // the most a band stages
  zero_staged(l.plan, l.staged, staged_rows);
  for (int32_t k = 0; k < 4; ++k)  // the same for every channel; pair_tables leaves them
    pair_steps(x_step, (out.w - 4 * g.groups) * c, out.w * c, l.table + k * kPairTableWords);
  for (int32_t b = 0; b < out.n; ++b) {
    const int8_t* image = input + b * in.h * in.w * c;
    for (int32_t oy0 = 0; oy0 < out.h; oy0 += band) {
      const int32_t rows = out.h - oy0 < band ? out.h - oy0 : band;
      const bool last = b == out.n - 1 && oy0 + rows == out.h;
      const int32_t iy0 = oy0 * p.stride_h - p.pad_top;
      int8_t* o = output + ((b * out.h + oy0) * out.w) * c;
      if (g.end == 2)
        pairs_band<kPath, kStride, 2>(l, image, iy0, rows, last, o);
      else if (g.end == 3)
        pairs_band<kPath, kStride, 3>(l, image, iy0, rows, last, o);
      else
        pairs_band<kPath, kStride, 0>(l, image, iy0, rows, last, o);
    }
  }
}

}  // namespace

uint32_t depthwise3x3_pairs_scratch_bytes(const ConvParams& p, const Dims& in, const Dims& filter_dims,
                                          const Dims& out) {
  if (filter_dims.h != 3 || filter_dims.w != 3 || p.dilation_h != 1 || p.dilation_w != 1 ||
      pair_path_columns(p, out) == 0 || in.c >= (1 << 16))  // (the staging's c >> 16 is 0)
    return 0;
  return static_cast<uint32_t>(4 * kPairTableWords + band_input_rows(kPairRows, p.stride_h, out.h) * kPairRowWords) * 4;
}

bool depthwise3x3_pairs(const ConvParams& p, const OutputStage& stage, OutputPath path, const Dims& in,
                        const int8_t* input, const Dims& filter_dims, const int8_t* filter, const int32_t* bias,
                        const Dims& out, int32_t by_four, int8_t* output, void* scratch) {
  if (path == OutputPath::kReference || depthwise3x3_pairs_scratch_bytes(p, in, filter_dims, out) == 0) return false;
  uint32_t* const words = static_cast<uint32_t*>(scratch);
  if (path == OutputPath::kFastRelu && p.stride_w == 1)
    pairs_layer<OutputPath::kFastRelu, 1>(p, in, input, filter, bias, out, stage, by_four, output, words);
  else if (path == OutputPath::kFastRelu)
    pairs_layer<OutputPath::kFastRelu, 2>(p, in, input, filter, bias, out, stage, by_four, output, words);
  else if (p.stride_w == 1)
    pairs_layer<OutputPath::kFast, 1>(p, in, input, filter, bias, out, stage, by_four, output, words);
  else
    pairs_layer<OutputPath::kFast, 2>(p, in, input, filter, bias, out, stage, by_four, output, words);
  return true;
}

}  // namespace kernels
