// CONV_2D, int8 activations, int8 per-output-channel weights, int32 bias (TFLite semantics).
#pragma once

#include "kernel_types.h"

namespace kernels {

struct ConvParams {
  int32_t stride_h, stride_w;
  int32_t pad_top, pad_left;       ///< Explicit padding (the host resolves SAME/VALID).
  int32_t dilation_h, dilation_w;
  int32_t input_offset;            ///< -(input zero point)
  int32_t output_offset;           ///< output zero point
  ActivationRange act;
};

/// input  [N, H, W, C_in]; filter [C_out, KH, KW, C_in]; bias [C_out] or nullptr;
/// output [N, OH, OW, C_out]. Taps outside the input contribute nothing (TFLite skips them,
/// which equals padding with the input zero point).
Status conv2d_s8(const ConvParams& params, const PerChannelQuant& quant, const Dims& input_dims, const int8_t* input,
                 const Dims& filter_dims, const int8_t* filter, const int32_t* bias, const Dims& output_dims,
                 int8_t* output);

}  // namespace kernels
