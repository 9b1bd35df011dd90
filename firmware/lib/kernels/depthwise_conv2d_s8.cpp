#include "depthwise_conv2d_s8.h"

#include "dsp.h"
#include "output_stage.h"
#include "requantize.h"

namespace kernels {

namespace {

// Depthwise work runs along channels, not along a dot product, so SMLAD has no pair of taps of one
// channel in one register. The kernel takes four channels at a time straight from NHWC memory: one
// word of input per tap, widened with the input offset by two SXTAB16 into lanes (c0, c2) and
// (c1, c3), multiplied by the matching lanes of the doubled weights with SMLABB / SMLATT. The
// weights of the four channels are widened once per channel group into a small table.

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

/// One tap of four channels: one word of input, widened with the input offset, times the tap's
/// doubled weights (table words 2t and 2t + 1, one LDRD).
__attribute__((always_inline)) inline void tap4(const int8_t* x, const uint32_t* table, int t, uint32_t off,
                                                Acc4& acc) {
  const uint32_t v = dsp::read_u32(x);
  const uint32_t even = dsp::sxtab16(off, v), odd = dsp::sxtab16_ror8(off, v);
  const dsp::Pair w = dsp::read_pair(table, 2 * t);
  acc.a0 = dsp::smlabb(even, w.first, acc.a0);
  acc.a2 = dsp::smlatt(even, w.first, acc.a2);
  acc.a1 = dsp::smlabb(odd, w.second, acc.a1);
  acc.a3 = dsp::smlatt(odd, w.second, acc.a3);
}

/// A 3x3 window wholly inside the input, x at its top-left tap: nine taps, no bounds checks.
__attribute__((always_inline)) inline void window3x3(const int8_t* x, int32_t c, int32_t row, const uint32_t* table,
                                                     uint32_t off, Acc4& acc) {
#pragma GCC unroll 3
  for (int fy = 0; fy < 3; ++fy, x += row) {
    tap4(x, table, 3 * fy, off, acc);
    tap4(x + c, table, 3 * fy + 1, off, acc);
    tap4(x + 2 * c, table, 3 * fy + 2, off, acc);
  }
}

template <OutputPath kPath>
KERNELS_HOT_LOOP void depthwise_by_four(const ConvParams& p, const Dims& in, const int8_t* input, const Dims& filter_dims,
                       const int8_t* filter, const int32_t* bias, const Dims& out, const OutputStage& stage,
                       int32_t channels_by_four, int8_t* output) {
  const int32_t c = in.c, kh = filter_dims.h, kw = filter_dims.w;
  const uint32_t off = dsp::pack(p.input_offset, p.input_offset);
  const bool is3x3 = kh == 3 && kw == 3;
  alignas(8) uint32_t table[2 * kMaxTaps];
  for (int32_t c0 = 0; c0 < channels_by_four; c0 += 4) {
    widen_weights(filter, kh * kw, c, c0, table);
    ChannelScale scale[4];
    Acc4 start;
    int32_t* starts[4] = {&start.a0, &start.a1, &start.a2, &start.a3};
    for (int32_t i = 0; i < 4; ++i) {
      scale[i] = stage.channel(c0 + i, kPath);
      *starts[i] = bias != nullptr ? 2 * bias[c0 + i] : 0;
    }
    // Output columns whose windows lie inside the input horizontally: [ox_lo, ox_hi).
    const int32_t ox_lo = (p.pad_left + p.stride_w - 1) / p.stride_w;
    int32_t ox_hi = (in.w - kw + p.pad_left) / p.stride_w + 1;
    if (in.w - kw + p.pad_left < 0) ox_hi = 0;
    if (ox_hi > out.w) ox_hi = out.w;
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
        const bool rows_inside = fy_lo == 0 && fy_hi == kh;
        for (int32_t ox = 0; ox < out.w; ++ox) {
          const int32_t in_x0 = ox * p.stride_w - p.pad_left;
          Acc4 acc = start;
          if (is3x3 && rows_inside && ox >= ox_lo && ox < ox_hi) {  // the common case, unrolled
            const int8_t* x = input + ((b * in.h + in_y0) * in.w + in_x0) * c + c0;
            const int32_t x_step = p.stride_w * c;
            for (; ox < ox_hi; ++ox, x += x_step) {
              acc = start;
              window3x3(x, c, in.w * c, table, off, acc);
              store(acc);
            }
            --ox;
            continue;
          }
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

/// TFLite's reference loops over channels [c_first, c.c): channels that do not fill a group of
/// four, dilated filters, filters beyond kMaxTaps, or accumulators the fast path cannot double.
void depthwise_reference(const ConvParams& p, const PerChannelQuant& quant, const Dims& in, const int8_t* input,
                         const Dims& filter_dims, const int8_t* filter, const int32_t* bias, const Dims& out,
                         int32_t c_first, int8_t* output) {
  const int32_t kh = filter_dims.h, kw = filter_dims.w, c = in.c;
  for (int32_t b = 0; b < out.n; ++b) {
    for (int32_t oy = 0; oy < out.h; ++oy) {
      const int32_t in_y0 = oy * p.stride_h - p.pad_top;
      for (int32_t ox = 0; ox < out.w; ++ox) {
        const int32_t in_x0 = ox * p.stride_w - p.pad_left;
        int8_t* out_pixel = output + ((b * out.h + oy) * out.w + ox) * c;
        for (int32_t ch = c_first; ch < c; ++ch) {
          int32_t acc = 0;
          for (int32_t fy = 0; fy < kh; ++fy) {
            const int32_t iy = in_y0 + fy * p.dilation_h;
            if (iy < 0 || iy >= in.h) continue;
            for (int32_t fx = 0; fx < kw; ++fx) {
              const int32_t ix = in_x0 + fx * p.dilation_w;
              if (ix < 0 || ix >= in.w) continue;
              const int32_t x = input[((b * in.h + iy) * in.w + ix) * c + ch];
              acc += filter[(fy * kw + fx) * c + ch] * (x + p.input_offset);
            }
          }
          if (bias != nullptr) acc += bias[ch];
          acc = multiply_by_quantized_multiplier(acc, quant.multiplier[ch], quant.shift[ch]) + p.output_offset;
          out_pixel[ch] = clamp_to_int8(acc, p.act.min, p.act.max);
        }
      }
    }
  }
}

}  // namespace

Status depthwise_conv2d_s8(const ConvParams& p, const PerChannelQuant& quant, const Dims& in, const int8_t* input,
                           const Dims& filter_dims, const int8_t* filter, const int32_t* bias, const Dims& out,
                           int8_t* output) {
  const int32_t c = in.c, taps = filter_dims.h * filter_dims.w;
  if (filter_dims.n != 1 || filter_dims.c != c || out.c != c || in.n != out.n) return Status::kBadShape;
  const bool fast = p.dilation_h == 1 && p.dilation_w == 1 && taps <= kMaxTaps &&
                    doubled_accumulator_fits(bias, c, taps);
  const int32_t by_four = fast ? c - c % 4 : 0;
  if (by_four > 0) {
    const OutputStage stage{quant, p.output_offset, p.act};
    switch (choose_output_path(stage, by_four)) {
      case OutputPath::kFastRelu:
        depthwise_by_four<OutputPath::kFastRelu>(p, in, input, filter_dims, filter, bias, out, stage, by_four, output);
        break;
      case OutputPath::kFast:
        depthwise_by_four<OutputPath::kFast>(p, in, input, filter_dims, filter, bias, out, stage, by_four, output);
        break;
      case OutputPath::kReference:
        depthwise_by_four<OutputPath::kReference>(p, in, input, filter_dims, filter, bias, out, stage, by_four,
                                                  output);
        break;
    }
  }
  if (by_four < c) depthwise_reference(p, quant, in, input, filter_dims, filter, bias, out, by_four, output);
  return Status::kOk;
}

}  // namespace kernels
