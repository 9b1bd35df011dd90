// ADD of two int8 tensors of the same shape with rescaling (TFLite's int8 ADD: both inputs are
// shifted left by left_shift (20), scaled to a common scale, summed, and scaled to the output).
#pragma once

#include "broadcast.h"
#include "kernel_types.h"

namespace kernels {

struct AddParams {
  int32_t input1_offset, input2_offset;  ///< -(zero points)
  int32_t output_offset;                 ///< output zero point
  int32_t left_shift;
  int32_t input1_multiplier, input1_shift;
  int32_t input2_multiplier, input2_shift;
  int32_t output_multiplier, output_shift;
  ActivationRange act;
};

/// input1, input2, output: `size` int8 elements each (same shape, no broadcasting).
Status add_s8(const AddParams& params, int32_t size, const int8_t* input1, const int8_t* input2, int8_t* output);

/// SUB (TFLite's int8 SUB: ADD's arithmetic with the second scaled input subtracted).
/// output [N, H, W, C]; input1, input2 read through their strides (broadcast.h).
Status sub_s8(const AddParams& params, const Dims& output_dims, const int8_t* input1, const BroadcastStrides& s1,
              const int8_t* input2, const BroadcastStrides& s2, int8_t* output);

}  // namespace kernels
