// Types shared by the int8 kernels: shapes, per-channel quantization, status.
// Layout of every activation tensor is NHWC; filters are OHWI (conv), 1HWC (depthwise), OI (FC).
#pragma once

#include <cstdint>

namespace kernels {

enum class Status : uint8_t { kOk = 0, kBadShape, kBadParams };

/// A 4-D shape, NHWC. Unused leading dimensions are 1 (an FC input [N, K] is {N, 1, 1, K}).
struct Dims {
  int32_t n, h, w, c;
  int32_t elements() const { return n * h * w * c; }
};

/// Per-output-channel requantization: real scale = multiplier * 2^(shift - 31) (TFLite's
/// QuantizeMultiplier convention; shift > 0 is a left shift).
struct PerChannelQuant {
  const int32_t* multiplier;
  const int32_t* shift;
};

/// Output clamp from the fused activation (NONE/RELU/RELU6) in the output's quantized domain.
struct ActivationRange {
  int32_t min, max;
};

}  // namespace kernels
