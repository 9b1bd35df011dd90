// The 3x3 depthwise pair path: one channel at a time on staged int16 rows, so that SMLAD multiplies
// two taps of one channel (see depthwise_pairs.cpp). Used by depthwise_conv2d_s8 for channels
// [0, by_four) when the layer qualifies.
#pragma once

#include "conv2d_s8.h"
#include "output_stage.h"

namespace kernels {

/// Bytes of scratch depthwise3x3_pairs needs for a layer of these shapes (its tables and staged
/// rows), or 0 when the layer is not a 3x3 depthwise layer with dilation 1, stride_w 1 or 2, rows
/// that fit the staging and at least eight outputs per channel (then it never takes it).
uint32_t depthwise3x3_pairs_scratch_bytes(const ConvParams& p, const Dims& in, const Dims& filter_dims,
                                          const Dims& out);

/// Channels [0, by_four) of the layer on `path` (kFast or kFastRelu) when
/// depthwise3x3_pairs_scratch_bytes is not 0 for it; false, having written nothing, otherwise.
/// by_four is a multiple of four. scratch: that many bytes, 8-byte aligned.
bool depthwise3x3_pairs(const ConvParams& p, const OutputStage& stage, OutputPath path, const Dims& in,
                        const int8_t* input, const Dims& filter_dims, const int8_t* filter, const int32_t* bias,
                        const Dims& out, int32_t by_four, int8_t* output, void* scratch);

}  // namespace kernels
