// DEPTHWISE_CONV_2D's backward kernels (README.md beside this file, "Backward kernels"; numpy twin:
// quantize/training/backward.py depthwise_*). Depth multiplier 1: each channel is a convolution of
// its own, so the input error needs no scratch (it is gathered per input element, twice: once for
// the normalisation's peak, once to write). The bias update is conv_bias_update's.
#pragma once

#include <cstdint>

#include "backward_s8.h"

namespace train {

/// The per-channel transposed convolution of the output error e [N, OH, OW, C], each channel
/// scaled by back_multiplier[c] >> 27, into in_error [N, H, W, C] (not aliasing e); g.in.c ==
/// g.out.c, filter [1, KH, KW, C]. Returns the normalisation shift.
int depthwise_input_error(const ConvGeometry& g, const int8_t* e, const int8_t* filter,
                          const int32_t* back_multiplier, int8_t* in_error);

/// filter[0, i, j, c] -= SR(sum_p e[p, c] * (x[p_in, c] - x_zero_point) * lr * qw[c] * 2^-k) for the
/// planned channels; draws channel-major: a planned channel's KH * KW taps (i, then j), one draw each.
/// Filters of up to 3x3 taps sum four channels at once (one word per position, SMLABB / SMLATT) into
/// 144 bytes of stack; channels past the last whole quad, and larger filters, one at a time.
void depthwise_weight_update(const ConvGeometry& g, const int8_t* e, const int8_t* x, int32_t x_zero_point,
                             int8_t* filter, const ChannelUpdate& u, Xorshift32& rng);

}  // namespace train
