#include "slice_s8.h"

#include "concatenation_s8.h"

namespace kernels {

Status slice_s8(const SliceParams& params, const Dims& input_dims, const int8_t* input, const Dims& output_dims,
                int8_t* output) {
  // The output is the part of the input a concatenation would have placed at `begin`.
  return concatenation_part_s8(ConcatenationParams{params.axis}, input_dims, input, params.begin, output_dims,
                               output);
}

}  // namespace kernels
