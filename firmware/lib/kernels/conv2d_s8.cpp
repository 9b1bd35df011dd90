#include "conv2d_s8.h"

#include "requantize.h"

namespace kernels {

Status conv2d_s8(const ConvParams& p, const PerChannelQuant& quant, const Dims& in, const int8_t* input,
                 const Dims& filter_dims, const int8_t* filter, const int32_t* bias, const Dims& out,
                 int8_t* output) {
  const int32_t kh = filter_dims.h, kw = filter_dims.w, in_c = in.c, out_c = out.c;
  if (filter_dims.n != out_c || filter_dims.c != in_c || in.n != out.n) return Status::kBadShape;
  for (int32_t b = 0; b < out.n; ++b) {
    for (int32_t oy = 0; oy < out.h; ++oy) {
      const int32_t in_y0 = oy * p.stride_h - p.pad_top;
      for (int32_t ox = 0; ox < out.w; ++ox) {
        const int32_t in_x0 = ox * p.stride_w - p.pad_left;
        int8_t* out_pixel = output + ((b * out.h + oy) * out.w + ox) * out_c;
        for (int32_t oc = 0; oc < out_c; ++oc) {
          const int8_t* filter_oc = filter + oc * kh * kw * in_c;
          int32_t acc = 0;
          for (int32_t fy = 0; fy < kh; ++fy) {
            const int32_t iy = in_y0 + fy * p.dilation_h;
            if (iy < 0 || iy >= in.h) continue;
            for (int32_t fx = 0; fx < kw; ++fx) {
              const int32_t ix = in_x0 + fx * p.dilation_w;
              if (ix < 0 || ix >= in.w) continue;
              const int8_t* x = input + ((b * in.h + iy) * in.w + ix) * in_c;
              const int8_t* w = filter_oc + (fy * kw + fx) * in_c;
              for (int32_t ic = 0; ic < in_c; ++ic) acc += w[ic] * (x[ic] + p.input_offset);
            }
          }
          if (bias != nullptr) acc += bias[oc];
          acc = multiply_by_quantized_multiplier(acc, quant.multiplier[oc], quant.shift[oc]) + p.output_offset;
          out_pixel[oc] = clamp_to_int8(acc, p.act.min, p.act.max);
        }
      }
    }
  }
  return Status::kOk;
}

}  // namespace kernels
