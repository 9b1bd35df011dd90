// DEPTHWISE_CONV_2D's backward kernels (README.md beside this file, "Backward kernels"; numpy twin:
// quantize/training/backward.py depthwise_*). Each output channel o = c * M + m (M the depth
// multiplier) is a convolution of input channel c of its own, so the input error needs no scratch
// (it is gathered per input element, twice: once for the normalisation's peak, once to write). A
// depth multiplier or a dilation takes the portable per-channel paths, branching off before the
// reader lists and channel quads of multiplier 1. The bias update is conv_bias_update's.
#pragma once

#include <cstdint>

#include "backward_s8.h"

namespace train {

/// The per-channel transposed convolution of the output error e [N, OH, OW, C * M], each output
/// channel scaled by back_multiplier[o] >> 27, into in_error [N, H, W, C] (not aliasing e), input
/// channel c summing its output channels c * M .. c * M + M - 1; filter [1, KH, KW, C * M].
/// Returns the normalisation shift.
int depthwise_input_error(const ConvGeometry& g, const int8_t* e, const int8_t* filter,
                          const int32_t* back_multiplier, int8_t* in_error);

/// filter[0, i, j, o] -= SR(sum_p e[p, o] * (x[p_in, o / M] - x_zero_point) * lr * qw[o] * 2^-k) for
/// the planned (output) channels; draws channel-major: a planned channel's KH * KW taps (i, then j),
/// one draw each. Without a multiplier or dilation, filters of up to 3x3 taps sum four channels at
/// once (one word per position, SMLABB / SMLATT) into 144 bytes of stack; channels past the last
/// whole quad, larger filters, multipliers and dilations one at a time.
void depthwise_weight_update(const ConvGeometry& g, const int8_t* e, const int8_t* x, int32_t x_zero_point,
                             int8_t* filter, const ChannelUpdate& u, Xorshift32& rng);

/// The output index whose tap offset `tap` (its index times the dilation) reads input index `at`,
/// -1 when none does (between strides or outside the output).
inline int32_t output_index(int32_t at, int32_t stride, int32_t tap, int32_t pad, int32_t size) {
  const int32_t shifted = at + pad - tap;
  if (shifted < 0 || shifted % stride != 0) return -1;
  const int32_t out = shifted / stride;
  return out < size ? out : -1;
}

/// Whether a layer takes the portable paths of backward_depthwise_spread.cpp: a depth multiplier or
/// a dilation (the reader lists and channel quads assume neither).
inline bool is_spread(const ConvGeometry& g) { return g.out.c != g.in.c || g.dilation_h != 1 || g.dilation_w != 1; }

/// depthwise_input_error of a spread layer: each input element's taps gathered one by one, over its
/// channel's M output channels and taps dilation apart.
int spread_input_error(const ConvGeometry& g, const int8_t* e, const int8_t* filter, const int32_t* back_multiplier,
                       int8_t* in_error);

/// depthwise_weight_update of a spread layer: each planned output channel's taps one by one.
void spread_weight_update(const ConvGeometry& g, const int8_t* e, const int8_t* x, int32_t x_zero_point,
                          int8_t* filter, const ChannelUpdate& u, Xorshift32& rng);

}  // namespace train
