// The device loop of conv2d_s8's tiled path: one channel pair's pass over every pixel pair of a
// tile, the 2 x 2 register block of dot products and its output stage in one asm loop, with its
// portable twin. Internal to the kernels library (conv2d_s8.cpp is its only user).
#pragma once

#include <cstdint>

#include "dsp.h"
#include "output_stage.h"

namespace kernels {

/// The device loop unrolls this many groups of four k values and enters them at the group that
/// leaves `groups` to run, so no instruction counts groups (dot products up to 256 deep).
constexpr int32_t kMaxPairPassGroups = 64;

/// One channel pair's pass over every pixel pair of a tile, in the order the device loop loads it.
struct PairPass {
  int32_t multiplier0, rounding0, multiplier1, rounding1;  // ChannelScale of channels oc, oc + 1
  int32_t shift0, shift1;
  int8_t* out;  // channel oc of the first pixel; advances by two pixels per block
  int32_t out_c;
  const uint32_t* filter_pair;  // groups * 4 words
  const uint32_t* pairs_end;    // end of the tile's pixel pairs
  int32_t start[4];             // a 2x2 block's first accumulators: channel oc, oc + 1, oc, oc + 1
  int32_t groups;               // 1 .. kMaxPairPassGroups; the device loop keeps its entry here
};

#if defined(__ARM_FEATURE_DSP)
/// The device loops (conv_pair_pass.cpp).
void pair_pass_relu(const uint32_t* x, const PairPass* pass);
void pair_pass_signed(const uint32_t* x, const PairPass* pass);
#endif

/// Every 2x2 block of channels oc, oc + 1 over the tile's pixel pairs from x to pass.pairs_end, on
/// a fast output path (kFast or kFastRelu) with at most kMaxPairPassGroups groups. The portable
/// loop is the device loop's twin.
template <OutputPath kPath, bool kOddGroups>
void pair_pass(const uint32_t* x, PairPass& pass) {
  static_assert(kPath != OutputPath::kReference, "the pair pass has the fast output stage only");
#if defined(__ARM_FEATURE_DSP)
  (kPath == OutputPath::kFastRelu ? pair_pass_relu : pair_pass_signed)(x, &pass);
#else
  const ChannelScale s0{pass.multiplier0, pass.shift0, pass.rounding0};
  const ChannelScale s1{pass.multiplier1, pass.shift1, pass.rounding1};
  for (int8_t* o = pass.out; x != pass.pairs_end; o += 2 * pass.out_c) {
    const dsp::Acc2x2 a = dsp::smlad_2x2<kOddGroups>(x, pass.filter_pair, pass.groups, pass.start);
    o[0] = OutputStage::fast_output<kPath>(s0, a.a00);
    o[1] = OutputStage::fast_output<kPath>(s1, a.a01);
    o[pass.out_c] = OutputStage::fast_output<kPath>(s0, a.a10);
    o[pass.out_c + 1] = OutputStage::fast_output<kPath>(s1, a.a11);
  }
#endif
}


}  // namespace kernels
