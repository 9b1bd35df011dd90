// DEPTHWISE_CONV_2D with depth multiplier 1, int8, per-channel weights (TFLite semantics).
#pragma once

#include "conv2d_s8.h"

namespace kernels {

/// input [N, H, W, C]; filter [1, KH, KW, C]; bias [C] or nullptr; output [N, OH, OW, C].
/// Uses ConvParams (same fields).
Status depthwise_conv2d_s8(const ConvParams& params, const PerChannelQuant& quant, const Dims& input_dims,
                           const int8_t* input, const Dims& filter_dims, const int8_t* filter, const int32_t* bias,
                           const Dims& output_dims, int8_t* output);

}  // namespace kernels
