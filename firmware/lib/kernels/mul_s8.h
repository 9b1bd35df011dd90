// MUL of two int8 tensors, one broadcast against the other or of the same shape (TFLite's int8
// MUL: (x1 - zp1) * (x2 - zp2) rescaled once by s1 * s2 / s_out, plus zp_out, clamped).
#pragma once

#include "broadcast.h"
#include "kernel_types.h"

namespace kernels {

struct MulParams {
  int32_t input1_offset, input2_offset;  ///< -(zero points)
  int32_t output_offset;                 ///< output zero point
  int32_t output_multiplier, output_shift;
  ActivationRange act;
};

/// output [N, H, W, C]; input1, input2 read through their strides (broadcast.h).
Status mul_s8(const MulParams& params, const Dims& output_dims, const int8_t* input1, const BroadcastStrides& s1,
              const int8_t* input2, const BroadcastStrides& s2, int8_t* output);

}  // namespace kernels
