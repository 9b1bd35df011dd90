#include "conv2d_s8.h"

#include <cstring>

#include "conv2d_one_channel.h"
#include "conv_pair_pass.h"
#include "dsp.h"
#include "output_stage.h"
#include "requantize.h"

namespace kernels {

namespace {

// CONV_2D is a matrix product: out[pixel][oc] = bias[oc] + sum_k patch[pixel][k] * filter[oc][k], with
// k running over (fy, fx, ic) in the filter's OHWI order, so a filter row is contiguous. The caller's
// scratch holds a tile of as many output pixels' patches as fit a fixed budget, expanded once into
// int16 (input offset added, doubled for the output stage, taps outside the input set to 0, which is
// what TFLite's skipping amounts to), and after it a pair of filter rows widened to int16. For each
// pair of output channels both filter rows are widened once per tile, and every pair of pixels of
// the tile meets them in a 2 x 2 register block: per four k values, one LDM of weights, two LDRDs
// of patch, eight SMLADs. The budget fixes the tiles, so the scratch (conv2d_s8_scratch_bytes) is
// what the layer's tiles use, at most the budget.

constexpr int32_t kScratchWords = 1280;  // the tiles' budget: 5 KB, e.g. a 96-deep filter pair and 24 pixels
constexpr int32_t kMaxTiledGroups = kScratchWords / 8;  // a packed filter's tile holds a pixel pair at least

/// Patch tile layout: pixels come in pairs; group g of four k values of pair q is four words at
/// tile[(q * groups + g) * 4]: the pair's first pixel (v[4g], v[4g+2]), (v[4g+1], v[4g+3]), then
/// its second pixel the same way, the permutation SXTB16 / SXTB16 ROR 8 give the weights.
/// The filter-pair scratch uses the same layout with the two channels in place of the two pixels.
inline int32_t tile_word(int32_t group, int32_t p, int32_t groups) { return ((p / 2) * groups + group) * 4 + (p % 2) * 2; }

/// Writes one int16 lane of the tile: value v[k] of pixel p (byte copy: the tile is read as words).
inline void set_lane(uint32_t* tile, int32_t k, int32_t p, int32_t groups, int32_t value) {
  static constexpr int32_t kLane[4] = {0, 2, 1, 3};
  const int16_t v = static_cast<int16_t>(value);
  const int32_t index = tile_word(k / 4, p, groups) * 2 + kLane[k % 4];
  std::memcpy(reinterpret_cast<unsigned char*>(tile) + 2 * index, &v, sizeof v);
}

/// A filter row's last, partial group of four weights (the rest zero), read without overrunning.
inline uint32_t partial_group(const int8_t* w, int32_t count) {
  uint32_t v = 0;
  for (int32_t i = 0; i < count; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(w[i])) << (8 * i);
  return v;
}

struct PatchGeometry {
  const ConvParams& p;
  const Dims& in;
  const Dims& filter;
  const Dims& out;
  int32_t depth;    // kh * kw * in_c
  int32_t groups;   // ceil(depth / 4), or kh with row_groups
  bool row_groups;  // one group per filter row (uses_row_groups)
  bool packed;      // the filter is packed (conv2d_takes_packed): doubled weights, patches not doubled
};

/// A one-channel input (an image's first convolution) with filter rows of at most four taps: the
/// taps of a filter row are consecutive input bytes, so each row is one group of the patch, read
/// as one word (the taps past kw meet zero weights), instead of gathering the patch byte by byte.
/// For 3x3 and 4x4 filters the group count is the same as packing k in order.
inline bool uses_row_groups(const ConvParams& p, const Dims& in, const Dims& filter) {
  return in.c == 1 && filter.w <= 4 && p.dilation_w == 1;
}

/// The word of a row_groups patch whose taps are not all inside the row (border columns): bytes
/// 0..kw-1 are taps in_x0..in_x0+kw-1, the input zero point where outside.
inline uint32_t border_row_word(const int8_t* row, int32_t in_x0, int32_t kw, int32_t in_w, uint8_t zero_point) {
  uint32_t v = 0x01010101u * zero_point;
  for (int32_t fx = 0; fx < kw; ++fx) {
    const int32_t ix = in_x0 + fx;
    if (ix >= 0 && ix < in_w)
      v = (v & ~(0xFFu << (8 * fx))) | static_cast<uint32_t>(static_cast<uint8_t>(row[ix])) << (8 * fx);
  }
  return v;
}

/// One word of four int8 taps as two tile words: 2 * (x + offset) in lanes (b0, b2) and (b1, b3).
inline void expand_word(uint32_t v, uint32_t off2, uint32_t* dst) {
  dst[0] = dsp::sxtab16(dsp::sxtab16(off2, v), v);
  dst[1] = dsp::sxtab16_ror8(dsp::sxtab16_ror8(off2, v), v);
}

/// Expands one pixel's taps whose channels come in whole groups (every 1x1 convolution of the
/// reference models): one word in, two words out (expand_word), 4 words between groups; count is a
/// multiple of four. On the device a loop of one LDR, four SXTAB16 and one STRD per word (GCC's
/// took ten instructions).
#if defined(__ARM_FEATURE_DSP)
__attribute__((naked, noinline)) void expand_words(const int8_t* /*x*/, int32_t /*count*/, uint32_t /*off2*/,
                                                   uint32_t* /*dst*/) {
  __asm__ volatile(
      "cmp r1, #0\n\t"
      "beq 2f\n\t"
      "push {r4, r5, r6}\n\t"
      "add r1, r0, r1\n\t"
      "1:\n\t"
      "ldr r4, [r0], #4\n\t"
      "sxtab16 r5, r2, r4\n\t"
      "sxtab16 r5, r5, r4\n\t"
      "sxtab16 r6, r2, r4, ror #8\n\t"
      "sxtab16 r6, r6, r4, ror #8\n\t"
      "strd r5, r6, [r3], #16\n\t"
      "cmp r0, r1\n\t"
      "bne 1b\n\t"
      "pop {r4, r5, r6}\n\t"
      "2:\n\t"
      "bx lr\n\t");
}
#else
void expand_words(const int8_t* x, int32_t count, uint32_t off2, uint32_t* dst) {
  for (const int8_t* const end = x + count; x != end; x += 4, dst += 4) expand_word(dsp::read_u32(x), off2, dst);
}
#endif

/// The patches of a packed pointwise filter's pixels: pixel pairs from x to x_end (in_c bytes a
/// pixel, a multiple of four), each group of the pair one LDR of each pixel, four SXTAB16 (offset
/// added, not doubled: the packed weights are) and one STM of the tile's four words. The loop
/// takes two groups per turn and enters an odd count at its second group.
#if defined(__ARM_FEATURE_DSP)
#define KERNELS_EXPAND_GROUP            \
  "ldr r6, [r0], #4\n\t"               \
  "ldr r7, [r4], #4\n\t"               \
  "sxtab16 r8, r10, r6\n\t"            \
  "sxtab16 r9, r10, r6, ror #8\n\t"    \
  "sxtab16 r12, r10, r7\n\t"           \
  "sxtab16 lr, r10, r7, ror #8\n\t"    \
  "stmia r3!, {r8, r9, r12, lr}\n\t"
__attribute__((naked, noinline)) void expand_pointwise_pairs(const int8_t* /*x*/, int32_t /*in_c*/,
                                                             const int8_t* /*x_end*/, uint32_t* /*dst*/,
                                                             uint32_t /*off*/) {
  __asm__ volatile(
      "push {r4, r5, r6, r7, r8, r9, r10, lr}\n\t"
      "ldr r10, [sp, #32]\n\t"  // off, the fifth argument
      "cmp r0, r2\n\t"
      "beq 3f\n\t"
      "1:\n\t"
      "add r4, r0, r1\n\t"  // the second pixel, where the first pixel's channels end
      "mov r5, r4\n\t"
      "tst r1, #4\n\t"      // an odd number of groups
      "bne 5f\n\t"
      "4:\n\t" KERNELS_EXPAND_GROUP "5:\n\t" KERNELS_EXPAND_GROUP
      "cmp r0, r5\n\t"
      "bne 4b\n\t"
      "mov r0, r4\n\t"  // past the second pixel
      "cmp r0, r2\n\t"
      "bne 1b\n\t"
      "3:\n\t"
      "pop {r4, r5, r6, r7, r8, r9, r10, pc}\n\t");
}
#undef KERNELS_EXPAND_GROUP
#else
void expand_pointwise_pairs(const int8_t* x, int32_t in_c, const int8_t* x_end, uint32_t* dst, uint32_t off) {
  for (; x != x_end; x += in_c)
    for (const int8_t* const end = x + in_c; x != end; x += 4, dst += 4) {
      const uint32_t v0 = dsp::read_u32(x), v1 = dsp::read_u32(x + in_c);
      dst[0] = dsp::sxtab16(off, v0);
      dst[1] = dsp::sxtab16_ror8(off, v0);
      dst[2] = dsp::sxtab16(off, v1);
      dst[3] = dsp::sxtab16_ror8(off, v1);
    }
}
#endif

/// count bytes from src to dst, a word at a time (unaligned word accesses are allowed on the device).
/// The barriers keep the loops loops: GCC turns them into two calls to memcpy otherwise, which cost
/// several times the few words a filter row has.
inline void copy_bytes(const int8_t* src, int32_t count, int8_t* dst) {
  int32_t i = 0;
  for (; i + 4 <= count; i += 4) {
    const uint32_t v = dsp::read_u32(src + i);
    std::memcpy(dst + i, &v, sizeof v);
    dsp::keep_loads_in_order();
  }
  for (; i < count; ++i) {
    dst[i] = src[i];
    dsp::keep_loads_in_order();
  }
}

/// Patches up to this deep whose channels do not come in groups of four (the 3x3 stem on a
/// one-channel image) are gathered in order first, then widened into the tile like whole groups.
constexpr int32_t kSmallPatch = 64;

/// Expands the patches of output pixels [first, first + pixels) (flat index over N, OH, OW) into
/// tile; an odd count gets a zero patch after the last pixel to complete its pair.
void expand_patches(const PatchGeometry& g, const int8_t* input, int32_t first, int32_t pixels, uint32_t* tile) {
  // Geometry as locals: the byte stores below may alias anything reached through a reference.
  const int32_t in_h = g.in.h, in_w = g.in.w, out_h = g.out.h, out_w = g.out.w;
  const int32_t stride_h = g.p.stride_h, stride_w = g.p.stride_w, pad_top = g.p.pad_top, pad_left = g.p.pad_left;
  const int32_t dilation_h = g.p.dilation_h, dilation_w = g.p.dilation_w;
  const int32_t in_c = g.in.c, kh = g.filter.h, kw = g.filter.w, off = g.p.input_offset, groups = g.groups;
  const uint32_t off2 = dsp::pack(2 * off, 2 * off);
  const bool whole_groups = in_c % 4 == 0;
  const bool small = !whole_groups && groups * 4 <= kSmallPatch;
  if (pixels % 2 != 0) {
    uint32_t* dst = tile + tile_word(0, pixels, groups);
    for (int32_t i = 0; i < groups; ++i, dst += 4) dst[0] = dst[1] = 0;
  }
  if (g.packed) {  // pointwise, stride 1, no padding, whole groups: consecutive rows of the input
    const uint32_t offset = dsp::pack(off, off);
    const int8_t* const x = input + first * in_c;
    const int8_t* const pairs_end = x + (pixels & ~1) * in_c;
    expand_pointwise_pairs(x, in_c, pairs_end, tile, offset);
    if (pixels % 2 != 0) {  // the last pixel, beside the zero patch
      uint32_t* dst = tile + tile_word(0, pixels - 1, groups);
      for (const int8_t* p = pairs_end; p != pairs_end + in_c; p += 4, dst += 4) {
        const uint32_t v = dsp::read_u32(p);
        dst[0] = dsp::sxtab16(offset, v);
        dst[1] = dsp::sxtab16_ror8(offset, v);
      }
    }
    return;
  }
  if (g.row_groups) {  // group fy of a pixel is one word of input row in_y0 + fy
    const uint8_t zero_point = static_cast<uint8_t>(-off);
    int32_t ox = first % out_w, oy = (first / out_w) % out_h, b = first / (out_w * out_h);
    for (int32_t px = 0; px < pixels; ++px) {
      const int8_t* const image = input + b * in_h * in_w;
      const int32_t in_y0 = oy * stride_h - pad_top, in_x0 = ox * stride_w - pad_left;
      const bool columns_inside = in_x0 >= 0 && in_x0 + 4 <= in_w;  // a whole word inside the row
      uint32_t* dst = tile + tile_word(0, px, groups);
      for (int32_t fy = 0, iy = in_y0; fy < kh; ++fy, iy += dilation_h, dst += 4) {
        uint32_t v = 0x01010101u * zero_point;
        if (iy >= 0 && iy < in_h) {
          const int8_t* const row = image + iy * in_w;
          v = columns_inside ? dsp::read_u32(row + in_x0) : border_row_word(row, in_x0, kw, in_w, zero_point);
        }
        expand_word(v, off2, dst);
      }
      if (++ox == out_w) {
        ox = 0;
        if (++oy == out_h) oy = 0, ++b;
      }
    }
    return;
  }
  if (whole_groups && kh == 1 && kw == 1 && stride_h == 1 && stride_w == 1 && pad_top == 0 &&
      pad_left == 0 && in_h == out_h && in_w == out_w) {
    // A pointwise convolution: pixel patches are consecutive rows of the input.
    const int8_t* x = input + first * in_c;
    uint32_t* dst = tile;
    for (int32_t px = 0; px < pixels; ++px, x += in_c) {
      expand_words(x, in_c, off2, dst + (px & 1) * 2);
      if (in_c < groups * 4) dst[in_c + (px & 1) * 2] = dst[in_c + (px & 1) * 2 + 1] = 0;  // the even-up group
      if (px & 1) dst += groups * 4;
    }
    return;
  }
  if (!whole_groups && !small)
    for (int32_t k = g.depth; k < groups * 4; ++k)  // zero padding of the last group
      for (int32_t px = 0; px < pixels; ++px) set_lane(tile, k, px, groups, 0);
  // Used when `small`. 64 bytes and the same for every layer, so it stays on the stack rather than
  // in the caller's scratch: the planner gains nothing from seeing it.
  alignas(4) int8_t patch[kSmallPatch] = {};
  int32_t ox = first % out_w, oy = (first / out_w) % out_h, b = first / (out_w * out_h);
  for (int32_t px = 0; px < pixels; ++px) {
    const int32_t in_y0 = oy * stride_h - pad_top, in_x0 = ox * stride_w - pad_left;
    const int8_t* image = input + b * in_h * in_w * in_c;
    uint32_t* const pixel_tile = tile + tile_word(0, px, groups);
    int32_t k = 0;
    if (small) {
      // Gathered as int8 in k order, taps outside the input as the input zero point (which the
      // offset brings to 0), then widened like a whole-group patch. Lanes past the depth keep
      // what they hold; the filter pair has zero weights there.
      const int8_t zero_point = static_cast<int8_t>(-off);
      const bool window_inside = in_y0 >= 0 && in_x0 >= 0 && in_y0 + (kh - 1) * dilation_h < in_h &&
                                 in_x0 + (kw - 1) * dilation_w < in_w;
      int8_t* dst = patch;
      const int8_t* const window = image + (in_y0 * in_w + in_x0) * in_c;
      if (window_inside && dilation_w == 1) {  // a filter row's taps are kw * in_c consecutive bytes
        const int32_t row_bytes = kw * in_c;
        for (int32_t fy = 0; fy < kh; ++fy, dst += row_bytes)
          copy_bytes(window + fy * dilation_h * in_w * in_c, row_bytes, dst);
      } else {
        for (int32_t fy = 0; fy < kh; ++fy) {
          const int32_t iy = in_y0 + fy * dilation_h;
          const int8_t* x = window + fy * dilation_h * in_w * in_c;
          for (int32_t fx = 0; fx < kw; ++fx, x += dilation_w * in_c) {
            const int32_t ix = in_x0 + fx * dilation_w;
            const bool inside = window_inside || (iy >= 0 && iy < in_h && ix >= 0 && ix < in_w);
            for (int32_t ic = 0; ic < in_c; ++ic) *dst++ = inside ? x[ic] : zero_point;
          }
        }
      }
      expand_words(patch, groups * 4, off2, pixel_tile);
    } else {
      for (int32_t fy = 0; fy < kh; ++fy) {
        const int32_t iy = in_y0 + fy * dilation_h;
        for (int32_t fx = 0; fx < kw; ++fx, k += in_c) {
          const int32_t ix = in_x0 + fx * dilation_w;
          const bool inside = iy >= 0 && iy < in_h && ix >= 0 && ix < in_w;
          const int8_t* x = image + (iy * in_w + ix) * in_c;
          if (inside && whole_groups) {
            expand_words(x, in_c, off2, pixel_tile + k);  // k / 4 groups of 4 words
          } else if (whole_groups) {  // a tap in the padding: contributes nothing
            uint32_t* dst = pixel_tile + k;
            for (int32_t i = 0; i < in_c; i += 4, dst += 4) dst[0] = dst[1] = 0;
          } else {
            for (int32_t ic = 0; ic < in_c; ++ic) set_lane(tile, k + ic, px, groups, inside ? 2 * (x[ic] + off) : 0);
          }
        }
      }
      if (whole_groups && k < groups * 4) pixel_tile[k] = pixel_tile[k + 1] = 0;  // the even-up group
    }
    if (++ox == out_w) {
      ox = 0;
      if (++oy == out_h) oy = 0, ++b;
    }
  }
}

/// One group of four weights of both rows, v0 and v1, widened into pair[0..3].
inline void widen_group(uint32_t v0, uint32_t v1, uint32_t* pair) {
  pair[0] = dsp::sxtb16(v0);
  pair[1] = dsp::sxtb16_ror8(v0);
  pair[2] = dsp::sxtb16(v1);
  pair[3] = dsp::sxtb16_ror8(v1);
}

/// widen_group over `count` whole groups of rows w0 and w1. On the device a loop of two LDRs, four
/// SXTB16 and one STM per group (GCC's took fourteen instructions); it runs once per channel pair
/// and tile, which adds up in deep layers cut into many tiles.
#if defined(__ARM_FEATURE_DSP)
__attribute__((naked, noinline)) void widen_whole_groups(const int8_t* /*w0*/, const int8_t* /*w1*/,
                                                         int32_t /*count*/, uint32_t* /*pair*/) {
  __asm__ volatile(
      "cmp r2, #0\n\t"
      "beq 2f\n\t"
      "push {r4, r5, r6, r7}\n\t"
      "1:\n\t"
      "ldr r4, [r0], #4\n\t"
      "ldr r6, [r1], #4\n\t"
      "sxtb16 r5, r4, ror #8\n\t"
      "sxtb16 r4, r4\n\t"
      "sxtb16 r7, r6, ror #8\n\t"
      "sxtb16 r6, r6\n\t"
      "stmia r3!, {r4, r5, r6, r7}\n\t"
      "subs r2, r2, #1\n\t"
      "bne 1b\n\t"
      "pop {r4, r5, r6, r7}\n\t"
      "2:\n\t"
      "bx lr\n\t");
}
#else
void widen_whole_groups(const int8_t* w0, const int8_t* w1, int32_t count, uint32_t* pair) {
  for (int32_t i = 0; i < count; ++i, w0 += 4, w1 += 4, pair += 4)
    widen_group(dsp::read_u32(w0), dsp::read_u32(w1), pair);
}
#endif

/// Widens filter rows oc and oc + 1 (w0, w1) into the pair layout, zero-padded to `groups` groups.
void widen_filter_pair(const int8_t* w0, const int8_t* w1, int32_t depth, int32_t groups, uint32_t* pair) {
  const int32_t full = depth / 4, tail = depth % 4;
  widen_whole_groups(w0, w1, full, pair);
  pair += 4 * full;
  if (tail != 0) widen_group(partial_group(w0 + 4 * full, tail), partial_group(w1 + 4 * full, tail), pair), pair += 4;
  for (int32_t i = full + (tail != 0); i < groups; ++i, pair += 4) widen_group(0u, 0u, pair);
}

/// The same for the row_groups layout: filter row fy (kw <= 4 taps) is group fy.
void widen_filter_pair_rows(const int8_t* w0, const int8_t* w1, int32_t kh, int32_t kw, uint32_t* pair) {
  for (int32_t fy = 0; fy < kh; ++fy, w0 += kw, w1 += kw, pair += 4)
    widen_group(partial_group(w0, kw), partial_group(w1, kw), pair);
}

/// Channels oc (and oc1, when not oc) of the tile's pixel pairs from x on and of its odd last
/// pixel (paired with the zero patch), from the filter pair, in C: the reference output stage, a
/// lone last channel, the odd pixel, and dot products deeper than the device loop unrolls.
template <OutputPath kPath, bool kOddGroups>
void channel_pair_blocks(const uint32_t* x, const uint32_t* pairs_end, bool odd_pixel, int32_t oc, int32_t oc1,
                         const uint32_t* filter_pair, int32_t groups, const int32_t* bias, const OutputStage& stage,
                         int32_t out_c, int8_t* o) {
  const ChannelScale s0 = stage.channel(oc, kPath), s1 = stage.channel(oc1, kPath);
  const int32_t start[2] = {stage.start(oc, bias, kPath), stage.start(oc1, bias, kPath)};
  const bool second = oc1 != oc;
  for (; x != pairs_end; o += 2 * out_c) {
    const dsp::Acc2x2 a = dsp::smlad_2x2<kOddGroups>(x, filter_pair, groups, start);
    o[0] = stage.apply<kPath>(s0, a.a00);
    o[out_c] = stage.apply<kPath>(s0, a.a10);
    if (second) {
      o[1] = stage.apply<kPath>(s1, a.a01);
      o[out_c + 1] = stage.apply<kPath>(s1, a.a11);
    }
  }
  if (odd_pixel) {
    const dsp::Acc1x2 a = dsp::smlad_1x2(x, filter_pair, groups, start);
    o[0] = stage.apply<kPath>(s0, a.a0);
    if (second) o[1] = stage.apply<kPath>(s1, a.a1);
  }
}

/// The constants of channels oc, oc1 (oc1 == oc for a lone last channel) as a packed pair holds
/// them (conv2d_s8.h), for the layer's output path.
template <OutputPath kPath>
void pair_constants(const OutputStage& stage, const int32_t* bias, int32_t oc, int32_t oc1, int32_t* words) {
  const ChannelScale s0 = stage.channel(oc, kPath), s1 = stage.channel(oc1, kPath);
  const int32_t start0 = stage.start(oc, bias, kPath), start1 = stage.start(oc1, bias, kPath);
  // Every value before the first store: `words` (the caller's scratch) may alias what they are read from.
  words[0] = s0.multiplier;
  words[1] = s0.rounding;
  words[2] = s1.multiplier;
  words[3] = s1.rounding;
  words[4] = s0.shift;
  words[5] = s1.shift;
  words[6] = words[8] = start0;
  words[7] = words[9] = start1;
}

/// All output channels of the `pixels` pixels whose patches are in `tile`; output pixel p of the
/// tile is at out + p * out_c. Whole channel pairs on a fast output path go through the device
/// loop: a packed filter's all in one pass, an int8 filter's one pass per pair, its constants and
/// widened weights in scratch_pair. An odd last channel is computed twice (its row stands in for
/// the missing second one) and stored once.
template <OutputPath kPath, bool kOddGroups>
__attribute__((noinline)) void tile_all_channels(const uint32_t* tile, int32_t pixels, const PatchGeometry& g,
                                                 const int8_t* filter, const uint32_t* packed, const int32_t* bias,
                                                 const OutputStage& stage, uint32_t* scratch_pair, int8_t* out) {
  const int32_t out_c = g.out.c, depth = g.depth, groups = g.groups;
  const int32_t pair_words = kPairConstantWords + groups * 4;  // a packed pair's
  const uint32_t* const pairs_end = tile + (pixels / 2) * groups * 4;
  const bool odd_pixel = pixels % 2 != 0;
  const uint32_t* const odd_patch = pairs_end;  // the odd pixel beside the zero patch
  const int8_t* const odd_out_base = out + (pixels - 1) * out_c;
  constexpr bool kFastPath = kPath != OutputPath::kReference;
  const bool device_pass = kFastPath && groups <= kMaxPairPassGroups;
  PairPass pass{};
  if constexpr (kFastPath) {
    pass.out_c = out_c;
    pass.pairs_end = pairs_end;
    pass.groups = groups;
    pass.tile = tile;
    pass.pair_bytes = groups * 16;
    pass.layer_shift = stage.layer_shift;
  }
  // Passes over `pairs` pairs from channel oc, whose stream (constants, weights, ...) starts at `stream`.
  const auto run_pass = [&](int32_t oc, int32_t pairs, const uint32_t* stream) {
    if constexpr (kFastPath) {
      pass.filter_pair = stream;
      pass.pair_out = out + oc;
      pass.pairs = pairs;
      pair_pass<kPath, kOddGroups>(pass);
    }
  };
  int32_t oc = 0;
  if (device_pass && packed != nullptr && out_c >= 2) {
    run_pass(0, out_c / 2, packed);
    for (; odd_pixel && oc + 1 < out_c; oc += 2)
      channel_pair_blocks<kPath, kOddGroups>(odd_patch, odd_patch, true, oc, oc + 1,
                                             packed + (oc / 2) * pair_words + kPairConstantWords, groups, bias,
                                             stage, out_c, const_cast<int8_t*>(odd_out_base) + oc);
    oc = out_c / 2 * 2;
  }
  for (; oc < out_c; oc += 2) {
    const bool second = oc + 1 < out_c;
    const int32_t oc1 = second ? oc + 1 : oc;
    const uint32_t* const stream = packed != nullptr ? packed + (oc / 2) * pair_words : scratch_pair;
    if (packed == nullptr) {
      uint32_t* const weights = scratch_pair + kPairConstantWords;
      if (g.row_groups)
        widen_filter_pair_rows(filter + oc * depth, filter + oc1 * depth, g.filter.h, g.filter.w, weights);
      else
        widen_filter_pair(filter + oc * depth, filter + oc1 * depth, depth, groups, weights);
      if (device_pass) pair_constants<kPath>(stage, bias, oc, oc1, reinterpret_cast<int32_t*>(scratch_pair));
    }
    const uint32_t* x = tile;
    if (device_pass && second) {
      run_pass(oc, 1, stream);
      x = pairs_end;
    }
    channel_pair_blocks<kPath, kOddGroups>(x, pairs_end, odd_pixel, oc, oc1, stream + kPairConstantWords, groups,
                                           bias, stage, out_c, out + oc + (x - tile) / (groups * 4) * 2 * out_c);
  }
}

/// Out of line, one instance per output path, rather than four inlined into conv2d_s8.
template <OutputPath kPath>
__attribute__((noinline)) void conv_tiled(const PatchGeometry& g, const int8_t* input, const int8_t* filter,
                                          const uint32_t* packed, const int32_t* bias, const OutputStage& stage,
                                          int32_t tile_pixels, int8_t* output, uint32_t* scratch) {
  uint32_t* const tile = scratch;  // tile_pixels * groups * 2 words
  // An int8 filter's pair in the packed layout (its constants, its widened weights), unless packed.
  uint32_t* const filter_pair = scratch + tile_pixels * g.groups * 2;
  const int32_t total = g.out.n * g.out.h * g.out.w;
  for (int32_t first = 0; first < total; first += tile_pixels) {
    const int32_t pixels = total - first < tile_pixels ? total - first : tile_pixels;
    expand_patches(g, input, first, pixels, tile);
    if (g.groups % 2 != 0)
      tile_all_channels<kPath, true>(tile, pixels, g, filter, packed, bias, stage, filter_pair,
                                     output + first * g.out.c);
    else
      tile_all_channels<kPath, false>(tile, pixels, g, filter, packed, bias, stage, filter_pair,
                                      output + first * g.out.c);
  }
}

/// TFLite's reference loops: used when a patch does not fit the tile or accumulators could
/// exceed what the tiled path allows (see output_stage.h).
void conv_reference(const ConvParams& p, const PerChannelQuant& quant, const Dims& in, const int8_t* input,
                    const Dims& filter_dims, const int8_t* filter, const int32_t* bias, const Dims& out,
                    int8_t* output) {
  const int32_t kh = filter_dims.h, kw = filter_dims.w, in_c = in.c, out_c = out.c;
  for (int32_t b = 0; b < out.n; ++b) {
    for (int32_t oy = 0; oy < out.h; ++oy) {
      const int32_t in_y0 = oy * p.stride_h - p.pad_top;
      for (int32_t ox = 0; ox < out.w; ++ox) {
        const int32_t in_x0 = ox * p.stride_w - p.pad_left;
        int8_t* out_pixel = output + ((b * out.h + oy) * out.w + ox) * out_c;
        for (int32_t oc = 0; oc < out_c; ++oc) {
          const int8_t* filter_oc = filter + oc * kh * kw * in_c;
          int32_t acc = 0;
          for (int32_t fy = 0; fy < kh; ++fy) {
            const int32_t iy = in_y0 + fy * p.dilation_h;
            if (iy < 0 || iy >= in.h) continue;
            for (int32_t fx = 0; fx < kw; ++fx) {
              const int32_t ix = in_x0 + fx * p.dilation_w;
              if (ix < 0 || ix >= in.w) continue;
              const int8_t* x = input + ((b * in.h + iy) * in.w + ix) * in_c;
              const int8_t* w = filter_oc + (fy * kw + fx) * in_c;
              for (int32_t ic = 0; ic < in_c; ++ic) acc += w[ic] * (x[ic] + p.input_offset);
            }
          }
          if (bias != nullptr) acc += bias[oc];
          acc = multiply_by_quantized_multiplier(acc, quant.multiplier[oc], quant.shift[oc]) + p.output_offset;
          out_pixel[oc] = clamp_to_int8(acc, p.act.min, p.act.max);
        }
      }
    }
  }
}

/// How conv2d_s8 runs a layer of these shapes, as far as shapes decide: conv2d_s8 and
/// conv2d_s8_scratch_bytes both follow it.
struct ConvPlan {
  int32_t depth;        // kh * kw * in_c
  int32_t groups;       // of the tile's layout (PatchGeometry)
  bool row_groups;
  bool tiled;           // a pixel pair's patch and the filter pair fit the budget (else the reference loops)
  int32_t tile_pixels;  // even; tiles as large as fit, all about the same size, the last one shorter
  int32_t pair_words;   // the int8 filter's pair after the tile; 0 when the filter is packed
};

ConvPlan plan_conv(const ConvParams& p, const Dims& in, const Dims& filter_dims, const Dims& out, bool packed) {
  ConvPlan plan{};
  plan.depth = filter_dims.h * filter_dims.w * in.c;
  plan.row_groups = uses_row_groups(p, in, filter_dims);
  plan.groups = plan.row_groups ? filter_dims.h : (plan.depth + 3) / 4;
  plan.pair_words = packed ? 0 : kPairConstantWords + plan.groups * 4;
  if (plan.groups < 1 || plan.groups > kMaxTiledGroups) return plan;
  const int32_t fit = (kScratchWords - plan.pair_words) / (plan.groups * 2) / 2 * 2;
  const int32_t total = out.n * out.h * out.w;
  plan.tiled = fit >= 2;
  if (!plan.tiled || total < 1) return plan;
  const int32_t tiles = (total + fit - 1) / fit;
  plan.tile_pixels = (total + tiles - 1) / tiles;
  plan.tile_pixels += plan.tile_pixels % 2;
  return plan;
}

}  // namespace

bool conv2d_takes_packed(const ConvParams& p, const Dims& filter_dims, const int32_t* bias) {
  return filter_dims.h == 1 && filter_dims.w == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_top == 0 &&
         p.pad_left == 0 && filter_dims.c % 4 == 0 && filter_dims.c <= kMaxPackedDepth &&
         doubled_accumulator_fits(bias, filter_dims.n, filter_dims.c);
}

bool conv2d_takes_scaled(const ConvParams& p, const PerChannelQuant& quant, const Dims& filter_dims,
                         const int32_t* bias) {
  const OutputStage stage{quant, p.output_offset, p.act};
  return conv2d_takes_packed(p, filter_dims, bias) &&
         choose_output_path(stage, filter_dims.n) == OutputPath::kFastRelu &&
         scaled_relu_fits(quant, bias, filter_dims.n, filter_dims.h * filter_dims.w * filter_dims.c);
}
static_assert(kMaxPackedDepth / 4 <= kMaxTiledGroups, "packed filters take the tiled path");

bool packed_constants_ok(const ConvParams& p, const PerChannelQuant& quant, const Dims& filter_dims,
                         const int32_t* bias, PackedFilter packed) {
  const int32_t out_c = filter_dims.n, pair_words = kPairConstantWords + (filter_dims.c + 3) / 4 * 4;
  const OutputStage stage{quant, p.output_offset, p.act, packed.scaled ? scaled_relu_shift(quant, out_c) : 0};
  const OutputPath path = packed.scaled ? OutputPath::kScaledRelu : choose_output_path(stage, out_c);
  for (int32_t oc = 0; oc < out_c; oc += 2) {
    int32_t expected[kPairConstantWords] = {};
    const int32_t oc1 = oc + 1 < out_c ? oc + 1 : oc;
    if (path == OutputPath::kScaledRelu) pair_constants<OutputPath::kScaledRelu>(stage, bias, oc, oc1, expected);
    if (path == OutputPath::kFastRelu || path == OutputPath::kFast)
      pair_constants<OutputPath::kFast>(stage, bias, oc, oc1, expected);  // kFastRelu's are the same
    const uint32_t* const words = packed.pairs + (oc / 2) * pair_words;
    for (int32_t i = 0; i < kPairConstantWords; ++i)
      if (static_cast<int32_t>(words[i]) != expected[i]) return false;
  }
  return true;
}

uint32_t conv2d_s8_scratch_bytes(const ConvParams& p, const Dims& in, const Dims& filter_dims, const Dims& out,
                                 bool packed) {
  if (filter_dims.n != out.c || filter_dims.c != in.c || in.n != out.n) return 0;
  const ConvPlan plan = plan_conv(p, in, filter_dims, out, packed);
  if (!plan.tiled || plan.tile_pixels == 0) return 0;  // the reference loops, or no pixels: none
  const uint32_t tiled = static_cast<uint32_t>(plan.tile_pixels * plan.groups * 2 + plan.pair_words) * 4u;
  // The one-channel path takes the layer instead when the multipliers allow a fast output stage.
  const uint32_t one_channel = packed ? 0u : conv2d_one_channel_3x3_scratch_bytes(p, in, filter_dims, out);
  return tiled > one_channel ? tiled : one_channel;
}

Status conv2d_s8(const ConvParams& p, const PerChannelQuant& quant, const Dims& in, const int8_t* input,
                 const Dims& filter_dims, const int8_t* filter, const int32_t* bias, const Dims& out,
                 int8_t* output, PackedFilter packed, void* scratch) {
  if (filter_dims.n != out.c || filter_dims.c != in.c || in.n != out.n) return Status::kBadShape;
  // A packed filter's conditions (conv2d_takes_packed, conv2d_takes_scaled) are the caller's to
  // check, once: the model checks them when it loads the blob, not on every call.
  const uint32_t* const packed_pairs = packed.pairs;
  const ConvPlan plan = plan_conv(p, in, filter_dims, out, packed_pairs != nullptr);
  if (!plan.tiled || !doubled_accumulator_fits(bias, out.c, plan.depth)) {
    conv_reference(p, quant, in, input, filter_dims, filter, bias, out, output);
    return Status::kOk;
  }
  if (plan.tile_pixels == 0) return Status::kOk;  // no output pixels
  const PatchGeometry geometry{p, in, filter_dims, out, plan.depth, plan.groups, plan.row_groups,
                               packed_pairs != nullptr};
  const OutputStage stage{quant, p.output_offset, p.act, packed.scaled ? scaled_relu_shift(quant, out.c) : 0};
  const OutputPath path = packed.scaled ? OutputPath::kScaledRelu : choose_output_path(stage, out.c);
  if (packed_pairs == nullptr &&
      conv2d_one_channel_3x3(p, stage, path, in, input, filter_dims, filter, bias, out, output, scratch))
    return Status::kOk;
  uint32_t* const words = static_cast<uint32_t*>(scratch);
  const int32_t tile_pixels = plan.tile_pixels;
  switch (path) {
    case OutputPath::kFastRelu:
      conv_tiled<OutputPath::kFastRelu>(geometry, input, filter, packed_pairs, bias, stage, tile_pixels, output, words);
      break;
    case OutputPath::kFast:
      conv_tiled<OutputPath::kFast>(geometry, input, filter, packed_pairs, bias, stage, tile_pixels, output, words);
      break;
    case OutputPath::kReference:
      conv_tiled<OutputPath::kReference>(geometry, input, filter, packed_pairs, bias, stage, tile_pixels, output,
                                         words);
      break;
    case OutputPath::kScaledRelu:
      conv_tiled<OutputPath::kScaledRelu>(geometry, input, filter, packed_pairs, bias, stage, tile_pixels, output,
                                          words);
      break;
  }
  return Status::kOk;
}

}  // namespace kernels
