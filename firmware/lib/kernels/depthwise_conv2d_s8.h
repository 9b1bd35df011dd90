// DEPTHWISE_CONV_2D, int8, per-channel weights, any depth multiplier (TFLite semantics).
#pragma once

#include "conv2d_s8.h"

namespace kernels {

/// Bytes of scratch depthwise_conv2d_s8 needs for a layer of these shapes (non-empty, strides and
/// dilations at least 1): the staged input rows (or, for other filters than 3x3, the weight table)
/// of the loop that takes its channels by four, or the pair path's tables and rows, whichever is
/// larger when both may run (the output stage the multipliers allow picks one); 0 for layers on the
/// reference loops alone. At most 4608 bytes.
uint32_t depthwise_conv2d_s8_scratch_bytes(const ConvParams& params, const Dims& input_dims, const Dims& filter_dims,
                                           const Dims& output_dims);

/// input [N, H, W, C]; filter [1, KH, KW, C * M]; bias [C * M] or nullptr; output [N, OH, OW, C * M],
/// M the depth multiplier: output channel c * M + j reads input channel c. Depth multiplier 1 takes
/// the four-channel and pair loops where they fit; other multipliers the reference loop alone.
/// Uses ConvParams (same fields). scratch: depthwise_conv2d_s8_scratch_bytes bytes, 8-byte
/// aligned, owned by the caller (its contents on entry do not matter).
Status depthwise_conv2d_s8(const ConvParams& params, const PerChannelQuant& quant, const Dims& input_dims,
                           const int8_t* input, const Dims& filter_dims, const int8_t* filter, const int32_t* bias,
                           const Dims& output_dims, int8_t* output, void* scratch);

}  // namespace kernels
