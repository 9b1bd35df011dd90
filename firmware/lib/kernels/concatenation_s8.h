// CONCATENATION of int8 NHWC tensors along one axis, and its transpose (one input's part of the
// concatenated tensor, for the backward pass). All tensors share one quantization, as TFLite
// Micro's int8 kernel requires: both are byte copies.
#pragma once

#include "kernel_types.h"

namespace kernels {

struct ConcatenationParams {
  int32_t axis;  ///< 0..3: N, H, W or C of the 4-D dims.
};

/// The maximum number of inputs concatenation_s8 takes (model::kMaxOpInputs).
constexpr int32_t kMaxConcatenationInputs = 4;

/// inputs[i] [N, H, W, C] with input_dims[i] equal to output_dims except along params.axis, where
/// they add up to output_dims'; count 1..kMaxConcatenationInputs. output: the inputs end to end
/// along the axis (no byte of it overlaps an input).
Status concatenation_s8(const ConcatenationParams& params, int32_t count, const Dims* input_dims,
                        const int8_t* const* inputs, const Dims& output_dims, int8_t* output);

/// The transpose: part [part_dims] is the slice of whole [whole_dims] that starts at index `start`
/// along params.axis (part_dims equal to whole_dims except along the axis).
Status concatenation_part_s8(const ConcatenationParams& params, const Dims& whole_dims, const int8_t* whole,
                             int32_t start, const Dims& part_dims, int8_t* part);

}  // namespace kernels
