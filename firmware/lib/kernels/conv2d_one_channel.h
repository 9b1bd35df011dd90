// CONV_2D of a one-channel input with a 3x3 filter (an image's first layer, like ref's stem): each
// output channel is a 3x3 window over the same image, so the patch-matrix path of conv2d_s8.cpp
// (depth 9 padded to 12, a patch per pixel) does more work than the layer has. Used by conv2d_s8.
#pragma once

#include "conv2d_s8.h"
#include "output_stage.h"

namespace kernels {

/// Bytes of scratch conv2d_one_channel_3x3 needs for a layer of these shapes (its staged rows), or 0
/// when the layer is not a one-channel 3x3 convolution with dilation 1 and stride_w 1 whose rows fit
/// the staging (then it never takes it). Shapes non-empty, strides >= 1.
uint32_t conv2d_one_channel_3x3_scratch_bytes(const ConvParams& p, const Dims& in, const Dims& filter_dims,
                                              const Dims& out);

/// The layer on `path` (kFast or kFastRelu) when conv2d_one_channel_3x3_scratch_bytes is not 0 for
/// it; false, having written nothing, otherwise. scratch: that many bytes, 8-byte aligned.
bool conv2d_one_channel_3x3(const ConvParams& p, const OutputStage& stage, OutputPath path, const Dims& in,
                            const int8_t* input, const Dims& filter_dims, const int8_t* filter,
                            const int32_t* bias, const Dims& out, int8_t* output, void* scratch);

}  // namespace kernels
