#include "depthwise_conv2d_s8.h"

#include "requantize.h"

namespace kernels {

Status depthwise_conv2d_s8(const ConvParams& p, const PerChannelQuant& quant, const Dims& in, const int8_t* input,
                           const Dims& filter_dims, const int8_t* filter, const int32_t* bias, const Dims& out,
                           int8_t* output) {
  const int32_t kh = filter_dims.h, kw = filter_dims.w, c = in.c;
  if (filter_dims.n != 1 || filter_dims.c != c || out.c != c || in.n != out.n) return Status::kBadShape;
  for (int32_t b = 0; b < out.n; ++b) {
    for (int32_t oy = 0; oy < out.h; ++oy) {
      const int32_t in_y0 = oy * p.stride_h - p.pad_top;
      for (int32_t ox = 0; ox < out.w; ++ox) {
        const int32_t in_x0 = ox * p.stride_w - p.pad_left;
        int8_t* out_pixel = output + ((b * out.h + oy) * out.w + ox) * c;
        for (int32_t ch = 0; ch < c; ++ch) {
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
  return Status::kOk;
}

}  // namespace kernels
