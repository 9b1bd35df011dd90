// An element-wise int8 -> int8 map by a 256-entry table: LOGISTIC, TANH and HARD_SWISH, whose
// tables the host computes from TFLite Micro's integer kernels (quantize/ops/lut.py), so the
// device's output is TFLite Micro's by construction.
#pragma once

#include "kernel_types.h"

namespace kernels {

struct LutParams {
  int8_t table[256];  ///< the output of each input value -128..127, in that order
};

/// input, output: `size` int8 elements; output may be input (element-wise).
Status lut_s8(const LutParams& params, int32_t size, const int8_t* input, int8_t* output);

}  // namespace kernels
