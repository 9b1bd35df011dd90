// The convolution kernels on the caller's scratch, on the host build: for layers chosen to reach
// every path (one-channel stem, tiled patches of each kind, the reference loops; pair, wide,
// staged and tap loops for depthwise), each kernel runs on exactly the bytes its *_scratch_bytes
// twin asks for, between guard bytes, twice with different garbage in the scratch. The guards must
// survive, and the outputs must equal TFLite's reference loops (written out below) bit for bit:
// a twin that asks for too little, or a kernel that reads scratch it did not write, fails here.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "../seeded_rng.h"
#include "../unit_test.h"
#include "conv2d_one_channel.h"
#include "conv2d_s8.h"
#include "depthwise_conv2d_s8.h"
#include "depthwise_pairs.h"
#include "requantize.h"

namespace {

using kernels::ConvParams;
using kernels::Dims;
using unit_test::Rng;

constexpr uint32_t kGuard = 64;
constexpr uint8_t kGuardByte = 0xA5;

/// Which twin sizes the scratch: the kernel's, or that of the path the layer takes (which the
/// kernel's may exceed, taking the larger of two paths), to hold each path to its own formula.
enum class Twin : uint8_t { kKernel, kOneChannel, kPairs };

struct Layer {
  const char* name;
  bool depthwise;
  Dims in;
  int32_t out_c, kh, kw, stride_h, stride_w, pad, dilation;
  bool narrow_act;  ///< an activation range the fast output stages do not take (reference stage)
  Twin twin;
};

int32_t out_size(int32_t size, int32_t k, int32_t stride, int32_t pad, int32_t dilation) {
  return (size + 2 * pad - dilation * (k - 1) - 1) / stride + 1;
}

/// A layer's operands, drawn so every accumulator stays within the tiled kernels' doubled range.
struct Operands {
  ConvParams p{};
  Dims filter{}, out{};
  std::vector<int8_t> input, weights;
  std::vector<int32_t> bias, multiplier, shift;

  Operands(const Layer& l, Rng& rng) {
    const int32_t c_out = l.depthwise ? l.in.c : l.out_c;
    p.stride_h = l.stride_h, p.stride_w = l.stride_w, p.pad_top = l.pad, p.pad_left = l.pad;
    p.dilation_h = p.dilation_w = l.dilation;
    p.input_offset = rng.range(-127, 128);
    p.output_offset = rng.range(-20, 20);
    p.act = l.narrow_act ? kernels::ActivationRange{-100, 100} : kernels::ActivationRange{-128, 127};
    filter = l.depthwise ? Dims{1, l.kh, l.kw, l.in.c} : Dims{l.out_c, l.kh, l.kw, l.in.c};
    out = {l.in.n, out_size(l.in.h, l.kh, l.stride_h, l.pad, l.dilation),
           out_size(l.in.w, l.kw, l.stride_w, l.pad, l.dilation), c_out};
    for (int32_t i = 0; i < l.in.elements(); ++i) input.push_back(static_cast<int8_t>(rng.range(-128, 127)));
    for (int32_t i = 0; i < filter.elements(); ++i) weights.push_back(static_cast<int8_t>(rng.range(-127, 127)));
    for (int32_t c = 0; c < c_out; ++c) {
      bias.push_back(rng.range(-5000, 5000));
      multiplier.push_back(rng.range(1 << 30, INT32_MAX));
      shift.push_back(rng.range(-14, -6));
    }
  }

  /// TFLite's reference loops (depthwise: channel multiplier 1).
  std::vector<int8_t> reference(bool depthwise) const {
    std::vector<int8_t> result(static_cast<size_t>(out.elements()));
    const Dims& in = in_dims;
    for (int32_t b = 0; b < out.n; ++b)
      for (int32_t oy = 0; oy < out.h; ++oy)
        for (int32_t ox = 0; ox < out.w; ++ox)
          for (int32_t oc = 0; oc < out.c; ++oc) {
            int32_t acc = bias[oc];
            for (int32_t fy = 0; fy < filter.h; ++fy)
              for (int32_t fx = 0; fx < filter.w; ++fx) {
                const int32_t iy = oy * p.stride_h - p.pad_top + fy * p.dilation_h;
                const int32_t ix = ox * p.stride_w - p.pad_left + fx * p.dilation_w;
                if (iy < 0 || iy >= in.h || ix < 0 || ix >= in.w) continue;
                const int8_t* x = &input[((b * in.h + iy) * in.w + ix) * in.c];
                if (depthwise) {
                  acc += weights[(fy * filter.w + fx) * filter.c + oc] * (x[oc] + p.input_offset);
                  continue;
                }
                const int8_t* w = &weights[((oc * filter.h + fy) * filter.w + fx) * filter.c];
                for (int32_t ic = 0; ic < in.c; ++ic) acc += w[ic] * (x[ic] + p.input_offset);
              }
            acc = kernels::multiply_by_quantized_multiplier(acc, multiplier[oc], shift[oc]) + p.output_offset;
            result[((b * out.h + oy) * out.w + ox) * out.c + oc] = kernels::clamp_to_int8(acc, p.act.min, p.act.max);
          }
    return result;
  }

  Dims in_dims{};
};

/// Runs the layer's kernel on `need` bytes of scratch filled with `fill`, between guards; false
/// (with a message) if a guard was overwritten.
bool run(const Layer& l, const Operands& o, uint32_t need, uint8_t fill, std::vector<int8_t>& output) {
  std::vector<uint64_t> storage((need + 2 * kGuard) / 8 + 1);  // 8-byte aligned, as the planner's are
  uint8_t* const bytes = reinterpret_cast<uint8_t*>(storage.data());
  for (uint32_t i = 0; i < need + 2 * kGuard; ++i) bytes[i] = i < kGuard || i >= kGuard + need ? kGuardByte : fill;
  output.assign(static_cast<size_t>(o.out.elements()), 0);
  const kernels::PerChannelQuant quant{o.multiplier.data(), o.shift.data()};
  uint8_t* const scratch = bytes + kGuard;
  if (l.depthwise)
    kernels::depthwise_conv2d_s8(o.p, quant, l.in, o.input.data(), o.filter, o.weights.data(), o.bias.data(), o.out,
                                 output.data(), scratch);
  else
    kernels::conv2d_s8(o.p, quant, l.in, o.input.data(), o.filter, o.weights.data(), o.bias.data(), o.out,
                       output.data(), {}, scratch);
  for (uint32_t i = 0; i < kGuard; ++i) {
    if (bytes[i] != kGuardByte || bytes[kGuard + need + i] != kGuardByte) {
      char message[160];
      std::snprintf(message, sizeof(message), "%s: scratch of %u bytes overrun (guard byte %u)", l.name, need,
                    bytes[i] != kGuardByte ? i : kGuard + need + i);
      unit_test::fail(__FILE__, __LINE__, message);
      return false;
    }
  }
  return true;
}

// {name, depthwise, input, out_c, kh, kw, stride_h, stride_w, pad, dilation, narrow_act}
const Layer kLayers[] = {
    {"stem one-channel 3x3", false, {1, 28, 28, 1}, 16, 3, 3, 1, 1, 1, 1, false, Twin::kOneChannel},
    {"stem at the staging's full width", false, {1, 20, 124, 1}, 4, 3, 3, 1, 1, 1, 1, false, Twin::kOneChannel},
    {"stem one-channel 3x3 stride 2", false, {1, 30, 30, 1}, 8, 3, 3, 2, 1, 1, 1, false, Twin::kOneChannel},
    {"stem row groups, reference stage", false, {1, 28, 28, 1}, 16, 3, 3, 1, 1, 1, 1, true, Twin::kKernel},
    {"stem too wide for the staging", false, {1, 5, 130, 1}, 4, 3, 3, 1, 1, 1, 1, false, Twin::kKernel},
    {"small patch, 3 channels", false, {1, 33, 33, 3}, 16, 3, 3, 2, 2, 1, 1, false, Twin::kKernel},
    {"pointwise, odd pixel count", false, {1, 9, 9, 16}, 24, 1, 1, 1, 1, 0, 1, false, Twin::kKernel},
    {"3x3 whole groups", false, {1, 10, 10, 8}, 12, 3, 3, 1, 1, 1, 1, false, Twin::kKernel},
    {"5x5, groups padded by lanes", false, {1, 9, 9, 5}, 6, 5, 5, 1, 1, 2, 1, false, Twin::kKernel},
    {"159 groups: reference loops", false, {1, 2, 3, 636}, 3, 1, 1, 1, 1, 0, 1, false, Twin::kKernel},
    {"216 groups: reference loops", false, {1, 5, 5, 96}, 2, 3, 3, 1, 1, 1, 1, false, Twin::kKernel},
    {"batch of two", false, {2, 7, 7, 4}, 5, 3, 3, 1, 1, 1, 1, false, Twin::kKernel},
    {"dilated", false, {1, 9, 9, 4}, 4, 3, 3, 1, 1, 2, 2, false, Twin::kKernel},
    {"dw pairs at the staging's full pitch", true, {1, 20, 32, 8}, 0, 3, 3, 1, 1, 1, 1, false, Twin::kPairs},
    {"dw wide rows at full width", true, {1, 10, 70, 8}, 0, 3, 3, 1, 1, 1, 1, false, Twin::kKernel},
    {"dw staged rows at full width", true, {1, 20, 69, 8}, 0, 3, 3, 2, 2, 1, 1, false, Twin::kKernel},
    {"dw pairs stride 1", true, {1, 12, 12, 8}, 0, 3, 3, 1, 1, 1, 1, false, Twin::kPairs},
    {"dw pairs stride 2", true, {1, 15, 15, 8}, 0, 3, 3, 2, 2, 1, 1, false, Twin::kPairs},
    {"dw wide rows", true, {1, 6, 40, 8}, 0, 3, 3, 1, 1, 1, 1, false, Twin::kKernel},
    {"dw staged rows stride 2", true, {1, 20, 66, 8}, 0, 3, 3, 2, 2, 1, 1, false, Twin::kKernel},
    {"dw tap loop, wide input", true, {1, 4, 80, 8}, 0, 3, 3, 1, 1, 1, 1, false, Twin::kKernel},
    {"dw tap loop 5x5", true, {1, 9, 9, 12}, 0, 5, 5, 1, 1, 2, 1, false, Twin::kKernel},
    {"dw four channels and two", true, {1, 10, 10, 6}, 0, 3, 3, 1, 1, 1, 1, false, Twin::kKernel},
    {"dw three channels: reference loops", true, {1, 10, 10, 3}, 0, 3, 3, 1, 1, 1, 1, false, Twin::kKernel},
    {"dw reference stage on wide rows", true, {1, 12, 12, 8}, 0, 3, 3, 1, 1, 1, 1, true, Twin::kKernel},
    {"dw dilated: reference loops", true, {1, 12, 12, 8}, 0, 3, 3, 1, 1, 2, 2, false, Twin::kKernel},
    {"dw one row, as a fused block runs it", true, {1, 3, 20, 48}, 0, 3, 3, 1, 1, 0, 1, false, Twin::kKernel},
    {"dw batch of two", true, {2, 9, 9, 8}, 0, 3, 3, 2, 2, 1, 1, false, Twin::kKernel},
};

uint32_t scratch_bytes(const Layer& l, const Operands& o) {
  switch (l.twin) {
    case Twin::kOneChannel: return kernels::conv2d_one_channel_3x3_scratch_bytes(o.p, l.in, o.filter, o.out);
    case Twin::kPairs: return kernels::depthwise3x3_pairs_scratch_bytes(o.p, l.in, o.filter, o.out);
    case Twin::kKernel: break;
  }
  return l.depthwise ? kernels::depthwise_conv2d_s8_scratch_bytes(o.p, l.in, o.filter, o.out)
                     : kernels::conv2d_s8_scratch_bytes(o.p, l.in, o.filter, o.out, false);
}

void test_kernels_stay_within_their_scratch_and_match_the_reference() {
  Rng rng{0x5C2A7C4ull};
  for (const Layer& l : kLayers) {
    Operands o(l, rng);
    o.in_dims = l.in;
    const uint32_t need = scratch_bytes(l, o);
    std::vector<int8_t> first, second;
    if (!run(l, o, need, 0x00, first) || !run(l, o, need, 0xFF, second)) return;
    const std::vector<int8_t> expected = o.reference(l.depthwise);
    for (size_t i = 0; i < expected.size(); ++i) {
      if (first[i] != expected[i] || second[i] != expected[i]) {
        char message[200];
        std::snprintf(message, sizeof(message), "%s: output %zu is %d / %d, TFLite's reference %d", l.name, i,
                      first[i], second[i], expected[i]);
        unit_test::fail(__FILE__, __LINE__, message);
        return;
      }
    }
  }
}

void test_scratch_is_zero_on_the_reference_loops_and_at_most_five_kilobytes() {
  Rng rng{7};
  for (const Layer& l : kLayers) {
    Operands o(l, rng);
    const uint32_t need = l.depthwise ? kernels::depthwise_conv2d_s8_scratch_bytes(o.p, l.in, o.filter, o.out)
                                      : kernels::conv2d_s8_scratch_bytes(o.p, l.in, o.filter, o.out, false);
    const bool reference_loops = std::strstr(l.name, "reference loops") != nullptr;
    EXPECT_TRUE((need == 0) == reference_loops);
    EXPECT_TRUE(need <= 5120u);
  }
}

}  // namespace

int main() {
  RUN_TEST(test_kernels_stay_within_their_scratch_and_match_the_reference);
  RUN_TEST(test_scratch_is_zero_on_the_reference_loops_and_at_most_five_kilobytes);
  return unit_test::finish();
}
