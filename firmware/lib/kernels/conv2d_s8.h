// CONV_2D, int8 activations, int8 per-output-channel weights, int32 bias (TFLite semantics).
#pragma once

#include "kernel_types.h"

namespace kernels {

struct ConvParams {
  int32_t stride_h, stride_w;
  int32_t pad_top, pad_left;       ///< Explicit padding (the host resolves SAME/VALID).
  int32_t dilation_h, dilation_w;
  int32_t input_offset;            ///< -(input zero point)
  int32_t output_offset;           ///< output zero point
  ActivationRange act;
};

/// A pointwise filter [C_out, 1, 1, C_in] may come packed by channel pairs instead of as int8, in
/// the layout the tiled loop reads (the compiler writes it, quantize/packing.py), so that the
/// device neither widens the same weights again for every tile of pixels nor computes a pair's
/// output constants again. Per pair of output channels (an odd last channel paired with itself):
/// - kPairConstantWords words, the pair's constants in the order the device loop keeps them
///   (conv_pair_pass.h): multiplier and rounding of channel oc, of oc + 1, their shifts, then the
///   first accumulators of oc, oc + 1, oc, oc + 1; that is OutputStage::channel and ::start for the
///   layer's fast output path, or zeros when the layer has none (packed_constants_ok checks them);
/// - ceil(C_in / 4) groups of four words: channel oc's values 4g .. 4g + 3 doubled and widened to
///   int16 lanes (2 v0, 2 v2), (2 v1, 2 v3), then channel oc + 1's the same way; values past C_in
///   are 0. The doubling is the output stage's (output_stage.h), which an int8 filter's tiles put
///   on the patch instead.
constexpr int32_t kMaxPackedDepth = 640;
constexpr int32_t kPairConstantWords = 10;
inline uint32_t packed_pairs_bytes(int32_t out_c, int32_t in_c) {
  return static_cast<uint32_t>((out_c + 1) / 2) *
         (static_cast<uint32_t>((in_c + 3) / 4) * 16u + kPairConstantWords * 4u);
}
/// Whether conv2d_s8 takes this filter packed: pointwise with stride 1 and no padding, input
/// channels a multiple of four up to kMaxPackedDepth, and biases within the range of the tiled
/// loop's doubled accumulators (output_stage.h).
bool conv2d_takes_packed(const ConvParams& params, const Dims& filter_dims, const int32_t* bias);

/// A packed filter's words, and whether they are scaled for OutputPath::kScaledRelu (channel c's
/// weights times 2^(1+d), d = E - e_c, E = scaled_relu_shift, instead of 2; see output_stage.h).
struct PackedFilter {
  const uint32_t* pairs = nullptr;
  bool scaled = false;
};
/// Whether conv2d_s8 takes this filter packed and scaled: packed, a kFastRelu output stage, and
/// scaled_relu_fits.
bool conv2d_takes_scaled(const ConvParams& params, const PerChannelQuant& quant, const Dims& filter_dims,
                         const int32_t* bias);
/// Whether a packed filter's constants are the ones the device would compute (see above).
bool packed_constants_ok(const ConvParams& params, const PerChannelQuant& quant, const Dims& filter_dims,
                         const int32_t* bias, PackedFilter packed);

/// Bytes of scratch conv2d_s8 needs for a layer of these shapes (non-empty, strides and dilations
/// at least 1), its filter packed or not (arm_convolve_s8_get_buffer_size's role): the tile of
/// expanded patches and an int8 filter's widened pair, or the one-channel 3x3 path's staged rows,
/// whichever is larger when both may run (the output stage the multipliers allow picks one); 0 for
/// layers on the reference loops. At most 5 KB.
uint32_t conv2d_s8_scratch_bytes(const ConvParams& params, const Dims& input_dims, const Dims& filter_dims,
                                 const Dims& output_dims, bool packed);

/// input  [N, H, W, C_in]; filter [C_out, KH, KW, C_in]; bias [C_out] or nullptr;
/// output [N, OH, OW, C_out]. Taps outside the input contribute nothing (TFLite skips them,
/// which equals padding with the input zero point). With a packed filter, which the caller has
/// checked with conv2d_takes_packed (and conv2d_takes_scaled if scaled), the weights are read from
/// there and `filter` is not used. scratch: conv2d_s8_scratch_bytes bytes, 8-byte aligned, owned
/// by the caller (its contents on entry do not matter; on return they are garbage).
Status conv2d_s8(const ConvParams& params, const PerChannelQuant& quant, const Dims& input_dims, const int8_t* input,
                 const Dims& filter_dims, const int8_t* filter, const int32_t* bias, const Dims& output_dims,
                 int8_t* output, PackedFilter packed, void* scratch);

}  // namespace kernels
