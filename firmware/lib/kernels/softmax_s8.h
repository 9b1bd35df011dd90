// SOFTMAX over the last dimension, int8 in and int8 out (output scale 1/256, zero point -128),
// bit-exact with TFLite's reference: the input differences from the row maximum are rescaled to
// Q5.26 fixed point, exponentiated with gemmlowp's exp_on_negative_values, summed in Q12.19, and
// divided through a Newton-Raphson reciprocal (gemmlowp's one_over_one_plus_x_for_x_in_0_1).
#pragma once

#include "kernel_types.h"

namespace kernels {

struct SoftmaxParams {
  int32_t input_multiplier;   ///< PreprocessSoftmaxScaling(beta, input_scale, 5)
  int32_t input_left_shift;
  int32_t diff_min;           ///< -CalculateInputRadius(5, input_left_shift): smaller diffs give 0
};

/// input, output: [rows, depth] int8 (any shape whose last dimension is depth).
Status softmax_s8(const SoftmaxParams& params, int32_t rows, int32_t depth, const int8_t* input, int8_t* output);

/// The same pipeline for one row, stopped before the 8-bit output: Q0.31 probabilities
/// (0 where the difference from the row maximum is below diff_min). The training step's loss.
Status softmax_q31(const SoftmaxParams& params, int32_t depth, const int8_t* input, int32_t* p31);

}  // namespace kernels
