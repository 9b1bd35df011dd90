// The banded staging of the 3x3 kernels (conv2d_one_channel.cpp, depthwise_conv2d_s8.cpp,
// depthwise_pairs.cpp): a staging of `capacity` input rows serves a band of output rows, as many
// as a 3x3 window moving by stride_h reads from them, and each band's input rows are staged once.
// The kernels and their *_scratch_bytes twins size bands and stagings with these alone.
#pragma once

#include <cstdint>

namespace kernels {

/// Output rows per band (capacity >= 3, stride_h >= 1).
inline int32_t band_output_rows(int32_t capacity, int32_t stride_h) { return (capacity - 3) / stride_h + 1; }

/// Input rows the largest band of a layer with out_h (>= 1) output rows stages: at most capacity.
inline int32_t band_input_rows(int32_t capacity, int32_t stride_h, int32_t out_h) {
  const int32_t band = band_output_rows(capacity, stride_h);
  return ((out_h < band ? out_h : band) - 1) * stride_h + 3;
}

}  // namespace kernels
