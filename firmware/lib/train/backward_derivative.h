// The backward kernel of the element-wise ops whose error is multiplied by their derivative at the
// forward input: LEAKY_RELU, LOGISTIC, TANH, HARD_SWISH (README.md beside this file, "Backward
// kernels"; numpy twin: quantize/training/backward.py derivative_input_error). The host computes
// each op's derivative table (quantize/training/program.py derivative_table).
#pragma once

#include <cstdint>

namespace train {

/// Entries of a derivative table: one per int8 input value -128..127, in that order.
constexpr int32_t kDerivativeEntries = 256;
/// The largest entry's magnitude, 2^23 - 1 (program.py DERIVATIVE_BITS): |e| * entry < 2^30.
constexpr int32_t kDerivativeLimit = (1 << 23) - 1;

/// e [size] -> in_error [size]: e[i] * table[x[i] + 128], normalised (README "Error tensors").
/// x: the op's int8 input the forward pass kept [size]; table: int32 [kDerivativeEntries], each
/// |entry| <= kDerivativeLimit (the caller checked). in_error may be e (each element is read
/// before it is written) but not x. Returns the normalisation shift (the exponent gains the
/// table's and loses the shift).
int derivative_input_error(const int32_t* table, int32_t size, const int8_t* x, const int8_t* e, int8_t* in_error);

}  // namespace train
