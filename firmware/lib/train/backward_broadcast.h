// The backward kernels of the element-wise ops with broadcasting, MUL and SUB (README.md beside
// this file, "Backward kernels"; numpy twins: quantize/training/backward.py mul_input_error,
// broadcast_sum). An input of the output's shape takes one term per element; a broadcast input
// (a gate [N, 1, 1, C], a scalar) the sum of the terms of every output element that read it.
#pragma once

#include <cstdint>

#include "broadcast.h"
#include "kernel_types.h"

namespace train {

/// Output elements reading one MUL input element at most: |h| * |x - z| < 2^19 per term keeps the
/// int32 sum below 2^31.
constexpr int32_t kMaxMulBroadcastTerms = 1 << 12;
/// Output elements reading one SUB input element at most (|e| <= 127 per term).
constexpr int32_t kMaxSubBroadcastTerms = 1 << 24;

/// The other operand's scale s = multiplier * 2^-(exponent + 27), for one MUL input's error
/// (training_format.h MulBackward).
struct MulFactor {
  int32_t multiplier;
  int32_t exponent;
};

/// MUL, y = x1 * x2: the error at the input of dims `operand` (the output's or 1 along each
/// dimension), in_error = sum over the output elements p reading it of ((e[p] * f.multiplier +
/// 2^26) >> 27) * (other[p] - other_zero_point), `other` the other input read through its strides.
/// e [out], in_error [operand] (not aliasing e). Returns the normalisation shift (the exponent gains
/// f.exponent and loses it).
int mul_input_error(const kernels::Dims& out, const kernels::Dims& operand, const int8_t* e, const int8_t* other,
                    const kernels::BroadcastStrides& other_strides, int32_t other_zero_point, MulFactor f,
                    int8_t* in_error);

/// SUB, y = x1 - x2: the error at the input of dims `operand`, sign * e summed over the output
/// elements reading it (sign +1 for x1, -1 for x2). in_error (not aliasing e). Returns the
/// normalisation shift (the exponent loses it).
int sub_input_error(const kernels::Dims& out, const kernels::Dims& operand, const int8_t* e, int32_t sign,
                    int8_t* in_error);

}  // namespace train
