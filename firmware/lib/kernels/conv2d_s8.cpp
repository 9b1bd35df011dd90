#include "conv2d_s8.h"

#include <cstring>

#include "dsp.h"
#include "output_stage.h"
#include "requantize.h"

namespace kernels {

namespace {

// CONV_2D is a matrix product: out[pixel][oc] = bias[oc] + sum_k patch[pixel][k] * filter[oc][k], with
// k running over (fy, fx, ic) in the filter's OHWI order, so a filter row is contiguous. Up to
// kTilePixels output pixels have their patches expanded once into an int16 tile (input offset
// added, doubled for the output stage, taps outside the input set to 0, which is what TFLite's
// skipping amounts to); every output channel then streams its int8 filter row past the tile,
// widening four weights with two SXTB16 and feeding kTilePixels x 2 SMLADs.

constexpr int32_t kTilePixels = 6;            // accumulators held in registers by the block loop
constexpr int32_t kTileHalfwords = 6 * 128;   // 1.5 KB of stack: 6 pixels of a 128-deep patch

/// Tile layout: group g of four k values of pixel p is two words at tile[(g * pixels + p) * 2]:
/// (v[4g], v[4g+2]) then (v[4g+1], v[4g+3]), the permutation SXTB16 / SXTB16 ROR 8 give the weights.
inline int32_t tile_index(int32_t k, int32_t p, int32_t pixels) {
  static constexpr int32_t kLane[4] = {0, 2, 1, 3};
  return ((k / 4) * pixels + p) * 4 + kLane[k % 4];
}

/// Writes one int16 lane of the tile (byte copy: the tile is read as words).
inline void set_lane(uint32_t* tile, int32_t index, int32_t value) {
  const int16_t v = static_cast<int16_t>(value);
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
  int32_t depth;   // kh * kw * in_c
  int32_t groups;  // ceil(depth / 4)
};

/// Expands one pixel's patch whose taps are all inside the input and whose channels come in whole
/// groups (every 1x1 convolution of the reference models): one word in, two words out.
inline void expand_words(const int8_t* x, int32_t count, uint32_t off2, uint32_t* dst, int32_t dst_step) {
  for (int32_t i = 0; i < count; i += 4, dst += dst_step) {
    const uint32_t v = dsp::read_u32(x + i);
    dst[0] = dsp::sxtab16(dsp::sxtab16(off2, v), v);  // 2 * (x + offset), lanes (b0, b2)
    dst[1] = dsp::sxtab16_ror8(dsp::sxtab16_ror8(off2, v), v);
  }
}

/// Patches up to this deep whose channels do not come in groups of four (the 3x3 stem on a
/// one-channel image) are gathered in order first, then packed into the tile two lanes at a time.
constexpr int32_t kSmallPatch = 64;

/// Expands the patches of output pixels [first, first + pixels) (flat index over N, OH, OW) into tile.
void expand_patches(const PatchGeometry& g, const int8_t* input, int32_t first, int32_t pixels, uint32_t* tile) {
  const int32_t in_c = g.in.c, kh = g.filter.h, kw = g.filter.w, off = g.p.input_offset;
  const uint32_t off2 = dsp::pack(2 * off, 2 * off);
  const int32_t step = pixels * 2;  // words between groups of one pixel
  const bool whole_groups = in_c % 4 == 0;
  const bool small = !whole_groups && g.groups * 4 <= kSmallPatch;
  if (!whole_groups && !small)
    for (int32_t k = g.depth; k < g.groups * 4; ++k)  // zero padding of the last group
      for (int32_t px = 0; px < pixels; ++px) set_lane(tile, tile_index(k, px, pixels), 0);
  int32_t ox = first % g.out.w, oy = (first / g.out.w) % g.out.h, b = first / (g.out.w * g.out.h);
  for (int32_t px = 0; px < pixels; ++px) {
    const int32_t in_y0 = oy * g.p.stride_h - g.p.pad_top, in_x0 = ox * g.p.stride_w - g.p.pad_left;
    const int8_t* image = input + b * g.in.h * g.in.w * in_c;
    int16_t patch[kSmallPatch];  // used when `small`
    int32_t k = 0;
    for (int32_t fy = 0; fy < kh; ++fy) {
      const int32_t iy = in_y0 + fy * g.p.dilation_h;
      for (int32_t fx = 0; fx < kw; ++fx, k += in_c) {
        const int32_t ix = in_x0 + fx * g.p.dilation_w;
        const bool inside = iy >= 0 && iy < g.in.h && ix >= 0 && ix < g.in.w;
        const int8_t* x = image + (iy * g.in.w + ix) * in_c;
        if (inside && whole_groups) {
          expand_words(x, in_c, off2, tile + ((k / 4) * pixels + px) * 2, step);
        } else if (whole_groups) {  // a tap in the padding: contributes nothing
          uint32_t* dst = tile + ((k / 4) * pixels + px) * 2;
          for (int32_t i = 0; i < in_c; i += 4, dst += step) dst[0] = dst[1] = 0;
        } else if (small) {
          for (int32_t ic = 0; ic < in_c; ++ic) patch[k + ic] = static_cast<int16_t>(inside ? 2 * (x[ic] + off) : 0);
        } else {
          for (int32_t ic = 0; ic < in_c; ++ic)
            set_lane(tile, tile_index(k + ic, px, pixels), inside ? 2 * (x[ic] + off) : 0);
        }
      }
    }
    if (small) {
      for (; k < g.groups * 4; ++k) patch[k] = 0;
      uint32_t* dst = tile + px * 2;
      for (int32_t i = 0; i < g.groups * 4; i += 4, dst += step) {
        dst[0] = dsp::pack(patch[i], patch[i + 2]);
        dst[1] = dsp::pack(patch[i + 1], patch[i + 3]);
      }
    }
    if (++ox == g.out.w) {
      ox = 0;
      if (++oy == g.out.h) oy = 0, ++b;
    }
  }
}

/// All output channels of kPixels pixels whose patches are in `tile`; output pixel p of the block
/// is at out + p * out_c.
template <int kPixels, OutputPath kPath>
void block_all_channels(const uint32_t* tile, const PatchGeometry& g, const int8_t* filter, const int32_t* bias,
                        const OutputStage& stage, int8_t* out) {
  const int32_t out_c = g.out.c, depth = g.depth, tail = depth % 4;
  const uint32_t* const full_end = tile + (depth / 4) * 2 * kPixels;
  for (int32_t oc = 0; oc < out_c; ++oc) {
    const int8_t* w = filter + oc * depth;
    const int32_t start = bias != nullptr ? 2 * bias[oc] : 0;
    int32_t acc[kPixels];
#pragma GCC unroll 8
    for (int p = 0; p < kPixels; ++p) acc[p] = start;
    const uint32_t* t = tile;
    // Four k values of every pixel: both weight halves, then per pixel one LDRD and two SMLADs.
    const auto mac_group = [&acc, &t](uint32_t weights) {
      const uint32_t w02 = dsp::sxtb16(weights), w13 = dsp::sxtb16_ror8(weights);
#pragma GCC unroll 8
      for (int p = 0; p < kPixels; ++p) {
        const dsp::Pair x = dsp::read_pair(t, 2 * p);
        acc[p] = dsp::smlad(x.first, w02, acc[p]);
        acc[p] = dsp::smlad(x.second, w13, acc[p]);
      }
      t += 2 * kPixels;
    };
    for (; t != full_end; w += 4) mac_group(dsp::read_u32(w));
    if (tail != 0) mac_group(partial_group(w, tail));
    const ChannelScale scale = stage.channel(oc, kPath);
    int8_t* o = out + oc;
#pragma GCC unroll 8
    for (int p = 0; p < kPixels; ++p, o += out_c) *o = stage.apply<kPath>(scale, acc[p]);
  }
}

template <OutputPath kPath>
void conv_tiled(const PatchGeometry& g, const int8_t* input, const int8_t* filter, const int32_t* bias,
                const OutputStage& stage, int32_t tile_pixels, int8_t* output) {
  alignas(8) uint32_t tile[kTileHalfwords / 2];
  const int32_t total = g.out.n * g.out.h * g.out.w;
  for (int32_t first = 0; first < total; first += tile_pixels) {
    const int32_t pixels = total - first < tile_pixels ? total - first : tile_pixels;
    expand_patches(g, input, first, pixels, tile);
    const uint32_t* t = tile;
    int8_t* out = output + first * g.out.c;
    switch (pixels) {
      case 6: block_all_channels<6, kPath>(t, g, filter, bias, stage, out); break;
      case 5: block_all_channels<5, kPath>(t, g, filter, bias, stage, out); break;
      case 4: block_all_channels<4, kPath>(t, g, filter, bias, stage, out); break;
      case 3: block_all_channels<3, kPath>(t, g, filter, bias, stage, out); break;
      case 2: block_all_channels<2, kPath>(t, g, filter, bias, stage, out); break;
      default: block_all_channels<1, kPath>(t, g, filter, bias, stage, out); break;
    }
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

}  // namespace

Status conv2d_s8(const ConvParams& p, const PerChannelQuant& quant, const Dims& in, const int8_t* input,
                 const Dims& filter_dims, const int8_t* filter, const int32_t* bias, const Dims& out,
                 int8_t* output) {
  if (filter_dims.n != out.c || filter_dims.c != in.c || in.n != out.n) return Status::kBadShape;
  const int32_t depth = filter_dims.h * filter_dims.w * in.c;
  const int32_t groups = (depth + 3) / 4;
  const int32_t fit = kTileHalfwords / (groups * 4);
  const int32_t tile_pixels = fit < kTilePixels ? fit : kTilePixels;
  if (tile_pixels < 1 || !doubled_accumulator_fits(bias, out.c, depth)) {
    conv_reference(p, quant, in, input, filter_dims, filter, bias, out, output);
    return Status::kOk;
  }
  const PatchGeometry geometry{p, in, filter_dims, out, depth, groups};
  const OutputStage stage{quant, p.output_offset, p.act};
  switch (choose_output_path(stage, out.c)) {
    case OutputPath::kFastRelu:
      conv_tiled<OutputPath::kFastRelu>(geometry, input, filter, bias, stage, tile_pixels, output);
      break;
    case OutputPath::kFast:
      conv_tiled<OutputPath::kFast>(geometry, input, filter, bias, stage, tile_pixels, output);
      break;
    case OutputPath::kReference:
      conv_tiled<OutputPath::kReference>(geometry, input, filter, bias, stage, tile_pixels, output);
      break;
  }
  return Status::kOk;
}

}  // namespace kernels
