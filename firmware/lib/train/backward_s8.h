// The backward kernels of the training step (README.md beside this file, "Backward kernels");
// quantize/training/backward.py is their numpy twin. Errors are int8 [-127, 127] with a
// power-of-two exponent the caller carries; a kernel that produces an error returns the shift its
// normalisation applied (the new exponent is the input's plus the kernel's gain minus that shift).
// Pointwise steps use the DSP extension through kernels/dsp.h (whose portable twins the native
// build runs); nothing allocates: scratch comes from the caller (the host planned it).
#pragma once

#include <cstdint>

#include "kernel_types.h"
#include "numerics.h"

namespace train {

/// A CONV_2D (or FULLY_CONNECTED as a 1x1 convolution on a 1x1 image): input and output shapes
/// (NHWC), filter [C_out, KH, KW, C_in], strides, leading padding and dilation (tap (i, j) of
/// output position (oy, ox) reads input row oy * stride_h + i * dilation_h - pad_top). A
/// DEPTHWISE_CONV_2D's filter is [1, KH, KW, C_out] with C_out = C_in * M (M the depth multiplier).
struct ConvGeometry {
  kernels::Dims in, out;
  int32_t kh, kw;
  int32_t stride_h, stride_w;
  int32_t pad_top, pad_left;
  int32_t dilation_h, dilation_w;
};

/// The planned output channels of an update and their float32 factors (qw or qb per channel).
struct ChannelUpdate {
  const uint16_t* channels;
  int32_t count;
  const float* factors;  ///< [C_out]
  float lr;
  int exponent;          ///< k of the output error
};

/// mask: ceil(n / 8) bytes; bit i = act_min < y[i] < act_max, least significant bit first.
void make_mask(const int8_t* y, int32_t n, int32_t act_min, int32_t act_max, uint8_t* mask);
/// e[i] = 0 where mask bit i is 0.
void apply_mask(int8_t* e, const uint8_t* mask, int32_t n);

/// Bytes of scratch conv_input_error needs: int32 per input element, int16 per output element.
uint32_t conv_input_error_scratch_bytes(const ConvGeometry& g);
/// Bytes of scratch conv_weight_update needs: one output channel's gradient, int32 per weight.
uint32_t conv_weight_update_scratch_bytes(const ConvGeometry& g);
/// A CONV_2D / FULLY_CONNECTED backward step's scratch: the larger of the two it uses (they run
/// one after the other).
uint32_t conv_scratch_bytes(const ConvGeometry& g, bool input_error, bool weights);

/// The transposed convolution of the output error e [N, OH, OW, C_out], each channel scaled by
/// back_multiplier[o] >> 27, into in_error [N, H, W, C_in]. Returns the normalisation shift.
/// scratch: conv_input_error_scratch_bytes(g) bytes, 4-byte aligned.
int conv_input_error(const ConvGeometry& g, const int8_t* e, const int8_t* filter, const int32_t* back_multiplier,
                     int8_t* in_error, uint8_t* scratch);

/// The accumulators of a pointwise step's input error (1x1, stride 1, more than one position),
/// v[p, c] = sum_o W[o, c] * h[p, o] with h = channel_scaled(e, back_multiplier), before any
/// normalisation, as 2 x 2 blocks in `scratch`: block (c / 2, p / 2), at index
/// ((c / 2) * ceil(positions / 2) + p / 2) * 4, holds v[p, c], v[p, c + 1], v[p + 1, c], v[p + 1, c + 1].
/// scratch: conv_input_error_scratch_bytes(g) bytes, 4-byte aligned.
const int32_t* pointwise_error_blocks(const ConvGeometry& g, const int8_t* e, const int8_t* filter,
                                      const int32_t* back_multiplier, uint8_t* scratch);

/// bias[o] -= round(sum_p e[p, o] * lr * qb[o] * 2^-k) for the planned channels.
void conv_bias_update(const ConvGeometry& g, const int8_t* e, int32_t* bias, const ChannelUpdate& u);

/// filter[o, i, j, c] -= SR(sum_p e[p, o] * (x[p_in, c] - x_zero_point) * lr * qw[o] * 2^-k) for the
/// planned channels, elements in filter order, one draw of `rng` each.
/// scratch: conv_weight_update_scratch_bytes(g) bytes, 4-byte aligned.
void conv_weight_update(const ConvGeometry& g, const int8_t* e, const int8_t* x, int32_t x_zero_point,
                        int8_t* filter, const ChannelUpdate& u, Xorshift32& rng, uint8_t* scratch);

/// w[i * stride] -= SR(gradient[i * gradient_stride] * f * 2^-k) for i < count (README "Updates"
/// 2), one draw of `rng` each, in order. gradient_stride is 0 (one gradient for every weight), 1 or 2.
void update_weights(int8_t* w, int32_t stride, const int32_t* gradient, int32_t gradient_stride, int32_t count,
                    FixedFactor f, int k, Xorshift32& rng);

/// The two passes of an input error gathered per element (no scratch): the peak of value(n, iy, ix,
/// c), an int32 gathered from the output error, over the input `in`, then each value normalised
/// into `to` ([N, H, W, C]). Returns the shift.
template <typename Value>
int gather_normalised(const kernels::Dims& in, Value value, int8_t* to) {
  uint32_t peak = 0;
  for (int32_t n = 0; n < in.n; ++n)
    for (int32_t iy = 0; iy < in.h; ++iy)
      for (int32_t ix = 0; ix < in.w; ++ix)
        for (int32_t c = 0; c < in.c; ++c) {
          const uint32_t m = magnitude(value(n, iy, ix, c));
          peak = m > peak ? m : peak;
        }
  const int shift = normalise_shift(peak);
  for (int32_t n = 0; n < in.n; ++n)
    for (int32_t iy = 0; iy < in.h; ++iy)
      for (int32_t ix = 0; ix < in.w; ++ix)
        for (int32_t c = 0; c < in.c; ++c) *to++ = normalised(value(n, iy, ix, c), shift);
  return shift;
}

/// MEAN over H and W: e [N, C] -> in_error [N, H, W, C], every position e * reciprocal.
/// Returns the normalisation shift.
int mean_input_error(const int8_t* e, const kernels::Dims& in, int32_t reciprocal, int8_t* in_error);

}  // namespace train
