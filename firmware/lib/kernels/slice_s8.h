// A range of an int8 NHWC tensor along one axis (TFLite STRIDED_SLICE with stride 1, and each
// output of SPLIT / SPLIT_V): input and output share one quantization, so it is a byte copy.
#pragma once

#include "kernel_types.h"

namespace kernels {

struct SliceParams {
  int32_t axis;   ///< 0..3: N, H, W or C of the 4-D dims.
  int32_t begin;  ///< First index kept along the axis; output_dims give the count.
};

/// output [output_dims] = input [input_dims] at indices begin..begin + count - 1 along params.axis
/// (output_dims equal to input_dims except along the axis).
Status slice_s8(const SliceParams& params, const Dims& input_dims, const int8_t* input, const Dims& output_dims,
                int8_t* output);

}  // namespace kernels
