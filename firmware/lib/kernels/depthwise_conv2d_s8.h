// DEPTHWISE_CONV_2D with depth multiplier 1, int8, per-channel weights (TFLite semantics).
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

/// input [N, H, W, C]; filter [1, KH, KW, C]; bias [C] or nullptr; output [N, OH, OW, C].
/// Uses ConvParams (same fields). scratch: depthwise_conv2d_s8_scratch_bytes bytes, 8-byte
/// aligned, owned by the caller (its contents on entry do not matter).
Status depthwise_conv2d_s8(const ConvParams& params, const PerChannelQuant& quant, const Dims& input_dims,
                           const int8_t* input, const Dims& filter_dims, const int8_t* filter, const int32_t* bias,
                           const Dims& output_dims, int8_t* output, void* scratch);

}  // namespace kernels
