#include "depthwise_conv2d_s8.h"

#include "depthwise_pairs.h"
#include "dsp.h"
#include "output_stage.h"
#include "requantize.h"
#include "staging.h"

namespace kernels {

namespace {

// Depthwise work runs along channels, not along a dot product, so SMLAD has no pair of taps of one
// channel in one register. The kernel takes four channels at a time from NHWC memory: one word of
// input per tap, widened with the input offset by two SXTAB16 into lanes (c0, c2) and (c1, c3),
// multiplied by the matching lanes of the doubled weights with SMLABB / SMLATT. The weights of the
// four channels are widened once per channel group into a small table. 3x3 filters (all of the
// reference models') first stage each output row's input rows, zero-point padded, at fixed
// offsets, so every output takes nine unrolled taps with immediate offsets and no bounds checks;
// other filters use a bounds-checked tap loop. 3x3 filters with the fast output stages and stride_w
// 1 or 2 take the pair path (depthwise_pairs.cpp) instead, which stages each channel's rows as
// int16 so that SMLAD does get two taps of one channel.

constexpr int32_t kMaxTaps = 64;  // 3x3, 5x5 and 7x7 filters; larger ones use the reference loops

/// Doubled weights of channels c0..c0+3 of every tap: (w[c0], w[c0+2]) then (w[c0+1], w[c0+3]).
void widen_weights(const int8_t* filter, int32_t taps, int32_t channels, int32_t c0, uint32_t* table) {
  for (int32_t t = 0; t < taps; ++t) {
    const int8_t* w = filter + t * channels + c0;
    table[2 * t] = dsp::pack(2 * w[0], 2 * w[2]);
    table[2 * t + 1] = dsp::pack(2 * w[1], 2 * w[3]);
  }
}

/// The four running sums of one output pixel's four channels.
struct Acc4 {
  int32_t a0, a1, a2, a3;
};

/// For channels c0..c0+3: their output scales into `scale`, and the accumulators' start, the
/// bias doubled (the output stage works on doubled accumulators) or 0.
template <OutputPath kPath>
inline Acc4 channel_starts(const OutputStage& stage, const int32_t* bias, int32_t c0, ChannelScale scale[4]) {
  for (int32_t i = 0; i < 4; ++i) scale[i] = stage.channel(c0 + i, kPath);
  const auto start = [bias, c0](int32_t i) { return bias != nullptr ? 2 * bias[c0 + i] : 0; };
  return {start(0), start(1), start(2), start(3)};
}

/// Out of line, as the other four-channel loops: inlined, it costs the caller's per-channel loops a register.
template <OutputPath kPath>
__attribute__((noinline)) void depthwise_by_four(const ConvParams& p, const Dims& in, const int8_t* input,
                                                 const Dims& filter_dims, const int8_t* filter, const int32_t* bias,
                                                 const Dims& out, const OutputStage& stage, int32_t channels_by_four,
                                                 int8_t* output, uint32_t* table) {
  const int32_t c = in.c, kh = filter_dims.h, kw = filter_dims.w;
  const uint32_t off = dsp::pack(p.input_offset, p.input_offset);
  for (int32_t c0 = 0; c0 < channels_by_four; c0 += 4) {
    widen_weights(filter, kh * kw, c, c0, table);
    ChannelScale scale[4];
    Acc4 start = channel_starts<kPath>(stage, bias, c0, scale);
    int8_t* out_pixel = output + c0;
    const auto store = [&](const Acc4& acc) {
      out_pixel[0] = stage.apply<kPath>(scale[0], acc.a0);
      out_pixel[1] = stage.apply<kPath>(scale[1], acc.a1);
      out_pixel[2] = stage.apply<kPath>(scale[2], acc.a2);
      out_pixel[3] = stage.apply<kPath>(scale[3], acc.a3);
      out_pixel += c;
    };
    for (int32_t b = 0; b < out.n; ++b) {
      for (int32_t oy = 0; oy < out.h; ++oy) {
        const int32_t in_y0 = oy * p.stride_h - p.pad_top;
        const int32_t fy_lo = in_y0 < 0 ? -in_y0 : 0;
        const int32_t fy_hi = in.h - in_y0 < kh ? in.h - in_y0 : kh;
        for (int32_t ox = 0; ox < out.w; ++ox) {
          const int32_t in_x0 = ox * p.stride_w - p.pad_left;
          Acc4 acc = start;
          const int32_t fx_lo = in_x0 < 0 ? -in_x0 : 0;
          const int32_t fx_hi = in.w - in_x0 < kw ? in.w - in_x0 : kw;
          for (int32_t fy = fy_lo; fy < fy_hi; ++fy) {  // taps outside the input are skipped
            const int8_t* x = input + ((b * in.h + in_y0 + fy) * in.w + in_x0 + fx_lo) * c + c0;
            for (int32_t fx = fx_lo; fx < fx_hi; ++fx, x += c) {
              const uint32_t v = dsp::read_u32(x);
              const uint32_t even = dsp::sxtab16(off, v), odd = dsp::sxtab16_ror8(off, v);
              const uint32_t* w = table + 2 * (fy * kw + fx);
              acc.a0 = dsp::smlabb(even, w[0], acc.a0);
              acc.a2 = dsp::smlatt(even, w[0], acc.a2);
              acc.a1 = dsp::smlabb(odd, w[1], acc.a1);
              acc.a3 = dsp::smlatt(odd, w[1], acc.a3);
            }
          }
          store(acc);
        }
      }
    }
  }
}

/// The 3x3 path stages, for four channels and a band of output rows, the input rows the band reads
/// as words (four channels each) at fixed offsets: kStagedColumns words per row, columns and rows
/// outside the input holding the input zero point (which the offset brings to 0). Every output then
/// takes the same nine unrolled taps, borders included, each an LDR with an immediate offset, and
/// each input row is staged once per band (bands overlap by 3 - stride rows).
constexpr int32_t kStagedColumns = 72;
constexpr int32_t kStagedRows = 16;  // at most 4.5 KB of scratch
constexpr int32_t kTableWords = 18;  // a 3x3 filter's doubled weights of four channels (widen_weights)

/// Columns of the staged rows: what the outputs of a row read, from the first padded column.
inline int32_t staged_columns(const ConvParams& p, const Dims& out) { return (out.w - 1) * p.stride_w + 3; }

/// Stages input rows iy0 .. iy0 + rows - 1 of channels c0 .. c0 + 3 into staged[rows][kStagedColumns].
inline void stage_rows(const ConvParams& p, const Dims& in, const int8_t* image, int32_t iy0, int32_t rows,
                       int32_t c0, int32_t columns, uint32_t* staged) {
  // Geometry as locals: the stores to the caller's scratch may alias anything reached through a reference.
  const int32_t in_h = in.h, in_w = in.w, in_c = in.c, pad_left = p.pad_left;
  const uint32_t zero_point = 0x01010101u * static_cast<uint8_t>(-p.input_offset);
  const int32_t ix_lo = pad_left < columns ? pad_left : columns;  // first column inside the input
  int32_t ix_hi = pad_left + in_w;
  if (ix_hi > columns) ix_hi = columns;
  for (int32_t r = 0; r < rows; ++r, staged += kStagedColumns) {
    const int32_t iy = iy0 + r;
    if (iy < 0 || iy >= in_h) {
      for (int32_t x = 0; x < columns; ++x) staged[x] = zero_point;
      continue;
    }
    for (int32_t x = 0; x < ix_lo; ++x) staged[x] = zero_point;
    const int8_t* src = image + (iy * in_w + ix_lo - pad_left) * in_c + c0;
    for (int32_t x = ix_lo; x < ix_hi; ++x, src += in_c) staged[x] = dsp::read_u32(src);
    for (int32_t x = ix_hi; x < columns; ++x) staged[x] = zero_point;
  }
}

/// Nine taps of four channels over staged rows, x at the window's top-left word.
__attribute__((always_inline)) inline void window3x3_staged(const uint32_t* x, const uint32_t* table, uint32_t off,
                                                            Acc4& acc) {
#pragma GCC unroll 3
  for (int fy = 0; fy < 3; ++fy) {
#pragma GCC unroll 3
    for (int fx = 0; fx < 3; ++fx) {
      const uint32_t v = x[fy * kStagedColumns + fx];
      const uint32_t even = dsp::sxtab16(off, v), odd = dsp::sxtab16_ror8(off, v);
      const dsp::Pair w = dsp::read_pair(table, 2 * (3 * fy + fx));
      acc.a0 = dsp::smlabb(even, w.first, acc.a0);
      acc.a2 = dsp::smlatt(even, w.first, acc.a2);
      acc.a1 = dsp::smlabb(odd, w.second, acc.a1);
      acc.a3 = dsp::smlatt(odd, w.second, acc.a3);
      dsp::keep_loads_in_order();
    }
  }
}

/// 3x3, dilation 1, channels [0, by_four), four at a time; columns <= kStagedColumns.
template <OutputPath kPath>
__attribute__((noinline)) void depthwise3x3_by_four(const ConvParams& p, const Dims& in, const int8_t* input,
                                                   const int8_t* filter, const int32_t* bias, const Dims& out,
                                                   const OutputStage& stage, int32_t by_four, int8_t* output,
                                                   uint32_t* scratch) {
  const int32_t c = in.c, columns = staged_columns(p, out), x_step = p.stride_w;
  const uint32_t off = dsp::pack(p.input_offset, p.input_offset);
  alignas(8) uint32_t table[kTableWords];  // 72 bytes on the stack: in the scratch it costs the loops a register
  uint32_t* const staged = scratch;
  const int32_t band = band_output_rows(kStagedRows, p.stride_h);
  for (int32_t c0 = 0; c0 < by_four; c0 += 4) {
    widen_weights(filter, 9, c, c0, table);
    ChannelScale scale[4];
    Acc4 start = channel_starts<kPath>(stage, bias, c0, scale);
    for (int32_t b = 0; b < out.n; ++b) {
      const int8_t* image = input + b * in.h * in.w * c;
      for (int32_t oy = 0; oy < out.h; ++oy) {
        const int32_t row_in_band = oy % band;
        if (row_in_band == 0) {
          const int32_t band_rows = out.h - oy < band ? out.h - oy : band;
          stage_rows(p, in, image, oy * p.stride_h - p.pad_top, (band_rows - 1) * p.stride_h + 3, c0, columns, staged);
        }
        int8_t* o = output + ((b * out.h + oy) * out.w) * c + c0;
        int8_t* const o_end = o + out.w * c;
        for (const uint32_t* x = staged + row_in_band * p.stride_h * kStagedColumns; o != o_end;
             x += x_step, o += c) {
          Acc4 acc = start;
          window3x3_staged(x, table, off, acc);
          o[0] = stage.apply<kPath>(scale[0], acc.a0);
          o[1] = stage.apply<kPath>(scale[1], acc.a1);
          o[2] = stage.apply<kPath>(scale[2], acc.a2);
          o[3] = stage.apply<kPath>(scale[3], acc.a3);
        }
      }
    }
  }
}

/// Stride 1 (each input word read by up to nine outputs) has its own 3x3 path: it stages, for four
/// channels and a band of output rows, the input rows the band reads, already offset and widened:
/// per column two words, lanes (c0, c2) then (c1, c3), kWideColumns columns per row at fixed
/// offsets, columns and rows outside the input holding 0 (the zero point plus the offset). Every
/// output then takes the same nine unrolled taps, borders included, each one LDRD of input and one
/// of weights with immediate offsets and four SMLAxy, and each input word is widened once per band
/// instead of once per tap (bands overlap by 3 - stride rows). Stride 2 keeps the int8 staging
/// above: there each staged word serves fewer taps than widening it would cost.
constexpr int32_t kWideColumns = 72;
constexpr int32_t kWideRows = 8;  // at most 4.5 KB of scratch

/// Zeroes `columns` staged columns (two words each). A plain loop: the padding is a column or two,
/// where a call to memset (what GCC makes of the obvious loop) costs several times the stores.
inline void zero_columns(uint32_t* dst, int32_t columns) {
  for (uint32_t* const end = dst + 2 * columns; dst != end; dst += 2) {
    dst[0] = 0;
    dst[1] = 0;
    dsp::keep_loads_in_order();  // keeps the loop a loop
  }
}

/// Stages input rows iy0 .. iy0 + rows - 1 of channels c0 .. c0 + 3 into
/// staged[rows][kWideColumns][2], widened with the input offset.
inline void stage_rows_wide(const ConvParams& p, const Dims& in, const int8_t* image, int32_t iy0, int32_t rows,
                            int32_t c0, int32_t columns, uint32_t off, uint32_t* staged) {
  const int32_t ix_lo = p.pad_left < columns ? p.pad_left : columns;  // first column inside the input
  int32_t ix_hi = p.pad_left + in.w;
  if (ix_hi > columns) ix_hi = columns;
  for (int32_t r = 0; r < rows; ++r, staged += 2 * kWideColumns) {
    const int32_t iy = iy0 + r;
    if (iy < 0 || iy >= in.h) {
      zero_columns(staged, columns);
      continue;
    }
    zero_columns(staged, ix_lo);
    const int8_t* src = image + (iy * in.w + ix_lo - p.pad_left) * in.c + c0;
    uint32_t* dst = staged + 2 * ix_lo;
    uint32_t* const dst_end = staged + 2 * ix_hi;
    if ((ix_hi - ix_lo) & 1) {
      const uint32_t v = dsp::read_u32(src);
      dst[0] = dsp::sxtab16(off, v);
      dst[1] = dsp::sxtab16_ror8(off, v);
      dst += 2, src += in.c;
    }
    for (const int32_t step = in.c; dst != dst_end; dst += 4, src += 2 * step) {  // two columns a step
      const uint32_t v0 = dsp::read_u32(src), v1 = dsp::read_u32(src + step);
      dst[0] = dsp::sxtab16(off, v0);
      dst[1] = dsp::sxtab16_ror8(off, v0);
      dst[2] = dsp::sxtab16(off, v1);
      dst[3] = dsp::sxtab16_ror8(off, v1);
    }
    zero_columns(dst_end, columns - ix_hi);
  }
}

/// Nine taps of four channels over staged rows, x at the window's middle-left column (so every
/// LDRD offset fits its +-1020 byte immediate).
__attribute__((always_inline)) inline void window3x3_wide(const uint32_t* x, const uint32_t* table, Acc4& acc) {
#pragma GCC unroll 3
  for (int fy = 0; fy < 3; ++fy) {
#pragma GCC unroll 3
    for (int fx = 0; fx < 3; ++fx) {
      const dsp::Pair v = dsp::read_pair(x, (fy - 1) * 2 * kWideColumns + 2 * fx);
      const dsp::Pair w = dsp::read_pair(table, 2 * (3 * fy + fx));
      acc.a0 = dsp::smlabb(v.first, w.first, acc.a0);
      acc.a2 = dsp::smlatt(v.first, w.first, acc.a2);
      acc.a1 = dsp::smlabb(v.second, w.second, acc.a1);
      acc.a3 = dsp::smlatt(v.second, w.second, acc.a3);
      dsp::keep_loads_in_order();
    }
  }
}

/// Nine taps of four channels for two adjacent outputs of a stride-1 row, x at the first one's
/// middle-left column: each tap's weights are loaded once and serve both outputs. On the device one
/// asm block (GCC's scheduler spills the eight accumulators otherwise): per tap one LDRD of weights,
/// two LDRDs of input, eight SMLAxy.
__attribute__((always_inline)) inline void window3x3_wide_pair(const uint32_t* x, const uint32_t* table, Acc4& acc0,
                                                               Acc4& acc1) {
#if defined(__ARM_FEATURE_DSP)
  int32_t p0 = acc0.a0, p1 = acc0.a1, p2 = acc0.a2, p3 = acc0.a3;
  int32_t q0 = acc1.a0, q1 = acc1.a1, q2 = acc1.a2, q3 = acc1.a3;
  uint32_t w0, w1, v0, v1;
  static_assert(kWideColumns == 72, "the offsets below assume rows of 72 columns (576 bytes)");
#define KERNELS_DW_TAP(W, V0, V1)                \
  "ldrd %[w0], %[w1], [%[w], #" #W "]\n\t"     \
  "ldrd %[v0], %[v1], [%[x], #" #V0 "]\n\t"    \
  "smlabb %[p0], %[v0], %[w0], %[p0]\n\t"      \
  "smlatt %[p2], %[v0], %[w0], %[p2]\n\t"      \
  "smlabb %[p1], %[v1], %[w1], %[p1]\n\t"      \
  "smlatt %[p3], %[v1], %[w1], %[p3]\n\t"      \
  "ldrd %[v0], %[v1], [%[x], #" #V1 "]\n\t"    \
  "smlabb %[q0], %[v0], %[w0], %[q0]\n\t"      \
  "smlatt %[q2], %[v0], %[w0], %[q2]\n\t"      \
  "smlabb %[q1], %[v1], %[w1], %[q1]\n\t"      \
  "smlatt %[q3], %[v1], %[w1], %[q3]\n\t"
  __asm__(KERNELS_DW_TAP(0, -576, -568) KERNELS_DW_TAP(8, -568, -560) KERNELS_DW_TAP(16, -560, -552)
          KERNELS_DW_TAP(24, 0, 8) KERNELS_DW_TAP(32, 8, 16) KERNELS_DW_TAP(40, 16, 24)
          KERNELS_DW_TAP(48, 576, 584) KERNELS_DW_TAP(56, 584, 592) KERNELS_DW_TAP(64, 592, 600)
          : [p0] "+r"(p0), [p1] "+r"(p1), [p2] "+r"(p2), [p3] "+r"(p3), [q0] "+r"(q0), [q1] "+r"(q1),
            [q2] "+r"(q2), [q3] "+r"(q3), [w0] "=&r"(w0), [w1] "=&r"(w1), [v0] "=&r"(v0), [v1] "=&r"(v1)
          : [x] "r"(x), [w] "r"(table)
          : "memory");
#undef KERNELS_DW_TAP
  acc0 = {p0, p1, p2, p3};
  acc1 = {q0, q1, q2, q3};
#else
  for (int fy = 0; fy < 3; ++fy) {
    for (int fx = 0; fx < 3; ++fx) {
      const uint32_t* w = table + 2 * (3 * fy + fx);
      const uint32_t* v = x + (fy - 1) * 2 * kWideColumns + 2 * fx;
      acc0.a0 = dsp::smlabb(v[0], w[0], acc0.a0);
      acc0.a2 = dsp::smlatt(v[0], w[0], acc0.a2);
      acc0.a1 = dsp::smlabb(v[1], w[1], acc0.a1);
      acc0.a3 = dsp::smlatt(v[1], w[1], acc0.a3);
      acc1.a0 = dsp::smlabb(v[2], w[0], acc1.a0);
      acc1.a2 = dsp::smlatt(v[2], w[0], acc1.a2);
      acc1.a1 = dsp::smlabb(v[3], w[1], acc1.a1);
      acc1.a3 = dsp::smlatt(v[3], w[1], acc1.a3);
    }
  }
#endif
}

/// The output pairs of one stride-1 row from o to o_end (2 * c bytes apart); returns x past them.
/// Out of line, with the scales copied to locals, so the asm block gets its fourteen registers and
/// each channel's scale is read once for both outputs.
template <OutputPath kPath>
__attribute__((noinline)) const uint32_t* wide_row_pairs(const uint32_t* x, const uint32_t* table, const Acc4& start,
                                                         const ChannelScale* scale, const OutputStage& stage,
                                                         int32_t c, int8_t* o, int8_t* const o_end) {
  const ChannelScale s0 = scale[0], s1 = scale[1], s2 = scale[2], s3 = scale[3];
  for (; o != o_end; x += 4, o += 2 * c) {
    Acc4 acc0 = start, acc1 = start;
    window3x3_wide_pair(x, table, acc0, acc1);
    o[0] = stage.apply<kPath>(s0, acc0.a0);
    o[c] = stage.apply<kPath>(s0, acc1.a0);
    o[1] = stage.apply<kPath>(s1, acc0.a1);
    o[c + 1] = stage.apply<kPath>(s1, acc1.a1);
    o[2] = stage.apply<kPath>(s2, acc0.a2);
    o[c + 2] = stage.apply<kPath>(s2, acc1.a2);
    o[3] = stage.apply<kPath>(s3, acc0.a3);
    o[c + 3] = stage.apply<kPath>(s3, acc1.a3);
  }
  return x;
}

/// 3x3, dilation 1, stride_w 1, channels [0, by_four), four at a time; columns <= kWideColumns.
template <OutputPath kPath>
__attribute__((noinline)) void depthwise3x3_wide(const ConvParams& p, const Dims& in, const int8_t* input,
                                                 const int8_t* filter, const int32_t* bias, const Dims& out,
                                                 const OutputStage& stage, int32_t by_four, int8_t* output,
                                                 uint32_t* scratch) {
  const int32_t c = in.c, columns = staged_columns(p, out);
  const uint32_t off = dsp::pack(p.input_offset, p.input_offset);
  alignas(8) uint32_t table[kTableWords];  // 72 bytes on the stack: in the scratch it costs the loops a register
  uint32_t* const staged = scratch;
  const int32_t band = band_output_rows(kWideRows, p.stride_h);
  for (int32_t c0 = 0; c0 < by_four; c0 += 4) {
    widen_weights(filter, 9, c, c0, table);
    ChannelScale scale[4];
    Acc4 start = channel_starts<kPath>(stage, bias, c0, scale);
    for (int32_t b = 0; b < out.n; ++b) {
      const int8_t* image = input + b * in.h * in.w * c;
      for (int32_t oy = 0; oy < out.h; ++oy) {
        const int32_t row_in_band = oy % band;
        if (row_in_band == 0) {
          const int32_t band_rows = out.h - oy < band ? out.h - oy : band;
          stage_rows_wide(p, in, image, oy * p.stride_h - p.pad_top, (band_rows - 1) * p.stride_h + 3, c0, columns,
                          off, staged);
        }
        int8_t* o = output + ((b * out.h + oy) * out.w) * c + c0;
        const uint32_t* x = staged + (row_in_band * p.stride_h + 1) * 2 * kWideColumns;
        x = wide_row_pairs<kPath>(x, table, start, scale, stage, c, o, o + (out.w & ~1) * c);
        if (out.w & 1) {  // the last output of an odd row alone
          o += (out.w - 1) * c;
          Acc4 acc = start;
          window3x3_wide(x, table, acc);
          o[0] = stage.apply<kPath>(scale[0], acc.a0);
          o[1] = stage.apply<kPath>(scale[1], acc.a1);
          o[2] = stage.apply<kPath>(scale[2], acc.a2);
          o[3] = stage.apply<kPath>(scale[3], acc.a3);
        }
      }
    }
  }
}

/// TFLite's reference loops over channels [c_first, c.c): channels that do not fill a group of
/// four, dilated filters, filters beyond kMaxTaps, or accumulators the fast path cannot double.
void depthwise_reference(const ConvParams& p, const PerChannelQuant& quant, const Dims& in, const int8_t* input,
                         const Dims& filter_dims, const int8_t* filter, const int32_t* bias, const Dims& out,
                         int32_t c_first, int8_t* output) {
  const int32_t kh = filter_dims.h, kw = filter_dims.w, c = in.c, out_c = out.c, multiplier = out.c / in.c;
  for (int32_t b = 0; b < out.n; ++b) {
    for (int32_t oy = 0; oy < out.h; ++oy) {
      const int32_t in_y0 = oy * p.stride_h - p.pad_top;
      for (int32_t ox = 0; ox < out.w; ++ox) {
        const int32_t in_x0 = ox * p.stride_w - p.pad_left;
        int8_t* out_pixel = output + ((b * out.h + oy) * out.w + ox) * out_c;
        for (int32_t oc = c_first; oc < out_c; ++oc) {
          const int32_t ch = oc / multiplier;
          int32_t acc = 0;
          for (int32_t fy = 0; fy < kh; ++fy) {
            const int32_t iy = in_y0 + fy * p.dilation_h;
            if (iy < 0 || iy >= in.h) continue;
            for (int32_t fx = 0; fx < kw; ++fx) {
              const int32_t ix = in_x0 + fx * p.dilation_w;
              if (ix < 0 || ix >= in.w) continue;
              const int32_t x = input[((b * in.h + iy) * in.w + ix) * c + ch];
              acc += filter[(fy * kw + fx) * out_c + oc] * (x + p.input_offset);
            }
          }
          if (bias != nullptr) acc += bias[oc];
          acc = multiply_by_quantized_multiplier(acc, quant.multiplier[oc], quant.shift[oc]) + p.output_offset;
          out_pixel[oc] = clamp_to_int8(acc, p.act.min, p.act.max);
        }
      }
    }
  }
}

/// Which of the four-channel loops takes channels [0, by_four) of a layer: the staged 3x3 ones
/// (widened rows at stride_w 1, int8 rows otherwise) when the rows fit, the bounds-checked tap loop
/// for the rest.
enum class ByFourLoop : uint8_t { kWide, kStaged, kTaps };

ByFourLoop by_four_loop(const ConvParams& p, const Dims& filter_dims, const Dims& out) {
  const bool staged = filter_dims.h == 3 && filter_dims.w == 3 && staged_columns(p, out) <= kStagedColumns;
  if (staged && p.stride_w == 1 && staged_columns(p, out) <= kWideColumns) return ByFourLoop::kWide;
  return staged ? ByFourLoop::kStaged : ByFourLoop::kTaps;
}

/// Bytes of scratch that loop needs: the staged rows of the 3x3 loops, the tap loop's weight table.
uint32_t by_four_scratch_bytes(const ConvParams& p, const Dims& filter_dims, const Dims& out) {
  switch (by_four_loop(p, filter_dims, out)) {
    case ByFourLoop::kWide:
      return static_cast<uint32_t>(band_input_rows(kWideRows, p.stride_h, out.h) * 2 * kWideColumns) * 4;
    case ByFourLoop::kStaged:
      return static_cast<uint32_t>(band_input_rows(kStagedRows, p.stride_h, out.h) * kStagedColumns) * 4;
    case ByFourLoop::kTaps:
      break;
  }
  return static_cast<uint32_t>(2 * filter_dims.h * filter_dims.w) * 4;
}

template <OutputPath kPath>
void depthwise_by_four_paths(const ConvParams& p, const Dims& in, const int8_t* input, const Dims& filter_dims,
                             const int8_t* filter, const int32_t* bias, const Dims& out, const OutputStage& stage,
                             int32_t by_four, int8_t* output, uint32_t* scratch) {
  switch (by_four_loop(p, filter_dims, out)) {
    case ByFourLoop::kWide:
      depthwise3x3_wide<kPath>(p, in, input, filter, bias, out, stage, by_four, output, scratch);
      break;
    case ByFourLoop::kStaged:
      depthwise3x3_by_four<kPath>(p, in, input, filter, bias, out, stage, by_four, output, scratch);
      break;
    case ByFourLoop::kTaps:
      depthwise_by_four<kPath>(p, in, input, filter_dims, filter, bias, out, stage, by_four, output, scratch);
      break;
  }
}

/// Channels [0, by_four) go through the four-channel or pair loops: a multiple of four, when the
/// filter's taps fit those loops' tables (and, which the caller checks, their accumulators fit).
int32_t channels_by_four(const ConvParams& p, const Dims& filter_dims, int32_t c) {
  const bool fast = p.dilation_h == 1 && p.dilation_w == 1 && filter_dims.h * filter_dims.w <= kMaxTaps;
  return fast ? c - c % 4 : 0;
}

}  // namespace

uint32_t depthwise_conv2d_s8_scratch_bytes(const ConvParams& p, const Dims& in, const Dims& filter_dims,
                                           const Dims& out) {
  if (filter_dims.n != 1 || filter_dims.c != in.c || out.c != in.c || in.n != out.n) return 0;
  if (channels_by_four(p, filter_dims, in.c) == 0) return 0;  // the reference loops alone
  // The pair path takes the layer instead when the multipliers allow a fast output stage.
  const uint32_t pairs = depthwise3x3_pairs_scratch_bytes(p, in, filter_dims, out);
  const uint32_t by_four = by_four_scratch_bytes(p, filter_dims, out);
  return pairs > by_four ? pairs : by_four;
}

Status depthwise_conv2d_s8(const ConvParams& p, const PerChannelQuant& quant, const Dims& in, const int8_t* input,
                           const Dims& filter_dims, const int8_t* filter, const int32_t* bias, const Dims& out,
                           int8_t* output, void* scratch) {
  const int32_t c = in.c, taps = filter_dims.h * filter_dims.w;
  if (filter_dims.n != 1 || filter_dims.c != out.c || c < 1 || out.c % c != 0 || in.n != out.n)
    return Status::kBadShape;
  if (out.c != c) {  // a depth multiplier over 1: the reference loop
    depthwise_reference(p, quant, in, input, filter_dims, filter, bias, out, 0, output);
    return Status::kOk;
  }
  const int32_t shapes_by_four = channels_by_four(p, filter_dims, c);
  const int32_t by_four = shapes_by_four > 0 && doubled_accumulator_fits(bias, c, taps) ? shapes_by_four : 0;
  if (by_four > 0) {
    uint32_t* const words = static_cast<uint32_t*>(scratch);
    const OutputStage stage{quant, p.output_offset, p.act};
    const OutputPath path = choose_output_path(stage, by_four);
    const bool pairs =
        depthwise3x3_pairs(p, stage, path, in, input, filter_dims, filter, bias, out, by_four, output, scratch);
    if (!pairs && path == OutputPath::kFastRelu)
      depthwise_by_four_paths<OutputPath::kFastRelu>(p, in, input, filter_dims, filter, bias, out, stage, by_four,
                                                     output, words);
    else if (!pairs && path == OutputPath::kFast)
      depthwise_by_four_paths<OutputPath::kFast>(p, in, input, filter_dims, filter, bias, out, stage, by_four, output,
                                                 words);
    else if (!pairs)
      depthwise_by_four_paths<OutputPath::kReference>(p, in, input, filter_dims, filter, bias, out, stage, by_four,
                                                      output, words);
  }
  if (by_four < c) depthwise_reference(p, quant, in, input, filter_dims, filter, bias, out, by_four, output);
  return Status::kOk;
}

}  // namespace kernels
