// The device loop of conv2d_s8's tiled path: consecutive channel pairs' passes over every pixel
// pair of a tile, the 2 x 2 register block of dot products and its output stage in one asm loop,
// with its portable twin. Internal to the kernels library (conv2d_s8.cpp is its only user).
#pragma once

#include <cstdint>

#include "conv2d_s8.h"
#include "dsp.h"
#include "output_stage.h"

namespace kernels {

/// The device loop unrolls this many groups of four k values and enters them at the group that
/// leaves `groups` to run, so no instruction counts groups (dot products up to 256 deep).
constexpr int32_t kMaxPairPassGroups = 64;

/// `pairs` channel pairs (oc, oc + 1), (oc + 2, oc + 3), ... over every pixel pair of a tile, from
/// a stream in the packed layout (conv2d_s8.h): per pair, its kPairConstantWords constants, then
/// its groups * 4 words of weights. The caller fills the fields from `out` on; the device loop keeps
/// its state in a copy on the stack, in this order: the pair's output constants, the block being
/// computed, the pair's weights and first accumulators.
struct PairPass {
  int32_t multiplier0, rounding0, multiplier1, rounding1;  // ChannelScale of channels oc, oc + 1
  int32_t shift0, shift1;
  int8_t* out;                  // channel oc of the block's first pixel
  int32_t out_c;
  const uint32_t* filter_pair;  // the stream: the first pair's constants; the loop keeps the weights
  const uint32_t* pairs_end;    // end of the tile's pixel pairs
  int32_t start[4];             // a 2x2 block's first accumulators: channel oc, oc + 1, oc, oc + 1
  int32_t groups;               // 1 .. kMaxPairPassGroups; the device loop keeps its entry here
  const uint32_t* tile;         // the tile's first pixel pair
  int8_t* pair_out;             // channel oc of the tile's first pixel
  int32_t pairs;                // channel pairs to run, at least 1
  int32_t pair_bytes;           // groups * 16: from a pair's weights to the next pair's constants
  int32_t layer_shift;          // kScaledRelu's E (output_stage.h); the device loop keeps its tail next
};

#if defined(__ARM_FEATURE_DSP)
/// The device loops (conv_pair_pass.cpp).
void pair_pass_relu(PairPass* pass);
void pair_pass_signed(PairPass* pass);
void pair_pass_scaled(PairPass* pass);
#endif

/// Every 2x2 block of the pass's channel pairs over the tile's pixel pairs, on a fast output path
/// (kFast, kFastRelu or kScaledRelu) with at most kMaxPairPassGroups groups. The portable loop is
/// the device loop's twin.
template <OutputPath kPath, bool kOddGroups>
void pair_pass(PairPass& pass) {
  static_assert(kPath != OutputPath::kReference, "the pair pass has the fast output stage only");
#if defined(__ARM_FEATURE_DSP)
  (kPath == OutputPath::kScaledRelu ? pair_pass_scaled
                                     : kPath == OutputPath::kFastRelu ? pair_pass_relu : pair_pass_signed)(&pass);
#else
  const uint32_t* stream = pass.filter_pair;
  for (int32_t i = 0; i < pass.pairs; ++i, stream += kPairConstantWords + pass.pair_bytes / 4) {
    const int32_t* const c = reinterpret_cast<const int32_t*>(stream);  // the pair's constants
    const ChannelScale s[2] = {{c[0], c[4], c[1]}, {c[2], c[5], c[3]}};
    const int32_t* const start = c + 6;
    const uint32_t* const filter_pair = stream + kPairConstantWords;
    int8_t* o = pass.pair_out + 2 * i;
    for (const uint32_t* x = pass.tile; x != pass.pairs_end; o += 2 * pass.out_c) {
      const dsp::Acc2x2 a = dsp::smlad_2x2<kOddGroups>(x, filter_pair, pass.groups, start);
      o[0] = OutputStage::fast_output<kPath>(s[0], a.a00);
      o[1] = OutputStage::fast_output<kPath>(s[1], a.a01);
      o[pass.out_c] = OutputStage::fast_output<kPath>(s[0], a.a10);
      o[pass.out_c + 1] = OutputStage::fast_output<kPath>(s[1], a.a11);
    }
  }
#endif
}

}  // namespace kernels
