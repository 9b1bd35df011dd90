// FULLY_CONNECTED, int8 (TFLite semantics), per-tensor or per-channel weight scales (per-tensor
// passes the same multiplier for every output).
#pragma once

#include "kernel_types.h"

namespace kernels {

struct FullyConnectedParams {
  int32_t input_offset;   ///< -(input zero point)
  int32_t filter_offset;  ///< -(filter zero point), 0 for symmetric weights
  int32_t output_offset;  ///< output zero point
  ActivationRange act;
};

/// input [batches, depth] (any NHWC shape whose last dims flatten to depth);
/// filter [units, depth]; bias [units] or nullptr; output [batches, units].
Status fully_connected_s8(const FullyConnectedParams& params, const PerChannelQuant& quant, int32_t batches,
                          int32_t depth, const int8_t* input, int32_t units, const int8_t* filter,
                          const int32_t* bias, int8_t* output);

}  // namespace kernels
