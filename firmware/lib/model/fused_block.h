// Row-streamed execution of a fused inverted-residual block (OpCode::kInvertedResidual).
//
// MobileNetV2's blocks expand C channels to t*C with a 1x1 conv, filter them with a k x k
// depthwise conv, and project back with a 1x1 conv. Materialised, the expanded tensor dominates
// SRAM (64x64x48 int8 is 192 KB in mbv2-w0.35-128). Here each depthwise output row is produced
// from a window of k expanded rows: rows are expanded into the window once, when first needed,
// the window slides down by the stride (a short memmove keeps it contiguous, so the ordinary
// depthwise kernel runs on it unchanged), and each depthwise row is projected straight into the
// block's output, where the residual is added in place. Every element is computed by the same
// kernels with the same arithmetic as the unfused ops, so results are bit-identical; only the
// working set shrinks to k*W*tC + W'*tC bytes.
#pragma once

#include "blob_format.h"
#include "op_context.h"

namespace model {

struct FusedBlockTensors {
  const TensorRecord* input;
  const int8_t* input_data;
  const TensorRecord* output;
  int8_t* output_data;
  uint8_t* arena;
  const uint8_t* data;                    ///< the blob's data section
  const TensorRecord* tensors;            ///< the blob's tensor table
  void* scratch;                          ///< inverted_residual_scratch_bytes, 8-byte aligned
};

void run_inverted_residual(const InvertedResidualParams& params, const FusedBlockTensors& t);

/// Bytes of scratch run_inverted_residual's kernels need (besides the window and row buffers): the
/// most any one of its per-row calls needs, expand, depthwise or project (they run one at a time).
/// On a validated block.
uint32_t inverted_residual_scratch_bytes(const InvertedResidualParams& params, const TensorRecord& input,
                                         const TensorRecord& output, const TensorRecord* tensors);

}  // namespace model

namespace model {

/// Load-time checks of one convolution of a fused op (an inverted-residual block, a row chain).
struct FusedConvCheck {
  const TensorRecord* tensors;
  uint16_t num_tensors;
  const uint8_t* data;
  uint32_t data_size;

  /// The filter is constant data (int8, or packed pairs for a pointwise conv: `packable`); the
  /// bias (optional) has `channels` int32 values; the per-channel arrays fit; strides at least 1,
  /// dilation 1, padding not negative, a valid activation range.
  bool ok(const ConvOpParams& p, uint16_t filter, uint16_t bias, uint32_t channels, bool packable) const;
};

/// Load-time checks of a kInvertedResidual op: every tensor index, filter and bias shape,
/// multiplier array, the window and row buffers (inside the arena, clear of the block's input,
/// output and kernel scratch), and that every output row has at least one input row under its window.
bool validate_inverted_residual(const OpContext& ctx);

}  // namespace model
