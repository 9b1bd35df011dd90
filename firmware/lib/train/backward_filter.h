// Gradient filtering (Yang et al., CVPR 2023; README.md beside this file, "Gradient filtering"):
// the backward kernels of a CONV_2D or DEPTHWISE_CONV_2D that keeps its input's height and width,
// working on r x r patches that tile the image from the top left (the last row and column of
// patches clipped when H or W is not a multiple of r). quantize/training/backward.py is their
// numpy twin. Portable C++; nothing allocates: scratch comes from the caller.
#pragma once

#include <cstdint>

#include "backward_s8.h"

namespace train {

/// The r x r patches over an [N, H, W, C] tensor.
struct PatchGrid {
  int32_t n, h, w, r, ph, pw;
  PatchGrid(const kernels::Dims& d, int32_t patch)
      : n(d.n), h(d.h), w(d.w), r(patch), ph((d.h + patch - 1) / patch), pw((d.w + patch - 1) / patch) {}
  int32_t patches() const { return n * ph * pw; }
  int32_t rows(int32_t pi) const { return h - pi * r < r ? h - pi * r : r; }
  int32_t cols(int32_t pj) const { return w - pj * r < r ? w - pj * r : r; }
  /// (2^16 + count / 2) / count, count the patch's elements.
  static int32_t reciprocal(int32_t count) { return ((1 << 16) + count / 2) / count; }
};

/// The forward pass's keep of a filtered layer's input x [N, H, W, C]: each patch's mean,
/// (sum * R + 2^15) >> 16 saturated to int8, into means [N, PH, PW, C].
void patch_means(const int8_t* x, const kernels::Dims& in, int32_t r, int8_t* means);

/// Filters the output error e [N, H, W, C] in place: each patch's sum, normalised, into the first
/// N * PH * PW * C bytes of e ([N, PH, PW, C]). Returns the shift.
int filter_error(const kernels::Dims& out, int32_t r, int8_t* e);

/// The input error from the filtered error eb [N, PH, PW, C_out]: per patch, the channel mix with
/// the spatially summed kernel of eb scaled by back_multiplier[o] >> 27, times the patch's
/// reciprocal R(P), written at every element of the patch of in_error [N, H, W, C_in] (exponent:
/// eb's + back_exponent + 16). Returns the normalisation shift. scratch: the step's conv scratch
/// (conv_scratch_bytes of the layer's own geometry covers the patch grid's); depthwise none.
int filtered_input_error(const ConvGeometry& g, bool depthwise, int32_t r, const int8_t* eb, const int8_t* filter,
                         const int32_t* back_multiplier, int8_t* in_error, uint8_t* scratch);

/// The weight update from the kept patch means [N, PH, PW, C_in]: every tap of filter[o, ., ., c]
/// (depthwise filter[0, ., ., c]) takes the gradient sum over patches P of E(P, o) * (means[P, c] -
/// x_zero_point), with E = eb[P, o] when `filtered` (e holds eb), else the patch's sum of the
/// unfiltered error e [N, H, W, C_out]. (A filtered 1x1 CONV_2D is conv_weight_update over the patch
/// grid: the trainer calls that instead.) Draws one `rng` value per element in the draw order of
/// README "Updates". scratch: C_in int32 (a CONV_2D's weight-update scratch holds them).
void patch_weight_update(const ConvGeometry& g, bool depthwise, int32_t r, bool filtered, const int8_t* e,
                         const int8_t* means, int32_t x_zero_point, int8_t* filter, const ChannelUpdate& u,
                         Xorshift32& rng, uint8_t* scratch);

}  // namespace train
