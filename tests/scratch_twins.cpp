// Prints the firmware's *_scratch_bytes twins for the shapes read from stdin, one line each, so
// that tests/test_scratch.py can hold quantize/scratch.py to them. Built for the host by that test
// with the kernel and fused-block sources. A line is a kind, then integers:
//   conv  <geometry 6> <input 4> <filter 4> <output 4> <packed>
//   dw    <geometry 6> <input 4> <filter 4> <output 4>
//   ir    <input 4> <output 4> <has_expand> [<geometry 6> <filter 4> <packed>] x 3 (expand, depthwise, project)
//   chain <input 4> <stages> [<geometry 6> <filter 4> <packed> <depthwise> <rows> <output 4>] x stages
// geometry: stride_h stride_w pad_top pad_left dilation_h dilation_w; dims: n h w c.
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "conv2d_s8.h"
#include "depthwise_conv2d_s8.h"
#include "fused_block.h"
#include "row_chain.h"

namespace {

bool read_ints(int32_t* values, int count) {
  for (int i = 0; i < count; ++i)
    if (std::scanf("%d", &values[i]) != 1) return false;
  return true;
}

kernels::ConvParams geometry(const int32_t* g) {
  kernels::ConvParams p{};
  p.stride_h = g[0], p.stride_w = g[1], p.pad_top = g[2], p.pad_left = g[3], p.dilation_h = g[4], p.dilation_w = g[5];
  p.act = {-128, 127};
  return p;
}

kernels::Dims dims(const int32_t* d) { return {d[0], d[1], d[2], d[3]}; }

model::TensorRecord record(const int32_t* d, bool packed) {
  model::TensorRecord t{};
  for (int i = 0; i < 4; ++i) t.dims[i] = static_cast<uint16_t>(d[i]);
  t.type = packed ? model::TensorType::kPackedPairs : model::TensorType::kInt8;
  return t;
}

/// An inverted-residual block's twin: its tensors are [input, output, expand, depthwise, project filters].
uint32_t inverted_residual() {
  int32_t io[9];
  if (!read_ints(io, 9)) return UINT32_MAX;
  model::TensorRecord tensors[5] = {record(io, false), record(io + 4, false)};
  model::InvertedResidualParams p{};
  model::ConvOpParams* convs[3] = {&p.expand, &p.depthwise, &p.project};
  for (int k = 0; k < 3; ++k) {
    int32_t conv[11];
    if (!read_ints(conv, 11)) return UINT32_MAX;
    convs[k]->conv = geometry(conv);
    tensors[2 + k] = record(conv + 6, conv[10] != 0);
  }
  p.has_expand = static_cast<uint16_t>(io[8]);
  p.expand_filter = 2, p.depthwise_filter = 3, p.project_filter = 4;
  return model::inverted_residual_scratch_bytes(p, tensors[0], tensors[1], tensors);
}

/// A row chain's twin: its tensors are [input, the stages' filters].
uint32_t row_chain() {
  int32_t head[5];
  if (!read_ints(head, 5) || head[4] < 1 || head[4] > static_cast<int32_t>(model::kMaxChainStages)) return UINT32_MAX;
  model::TensorRecord tensors[1 + model::kMaxChainStages] = {record(head, false)};
  model::RowChainParams p{};
  p.num_stages = static_cast<uint32_t>(head[4]);
  for (uint32_t k = 0; k < p.num_stages; ++k) {
    int32_t v[17];
    if (!read_ints(v, 17)) return UINT32_MAX;
    model::RowChainStage& s = p.stages[k];
    s.conv.conv = geometry(v);
    tensors[1 + k] = record(v + 6, v[10] != 0);
    s.filter = static_cast<uint16_t>(1 + k);
    s.depthwise = static_cast<uint16_t>(v[11]);
    s.rows = static_cast<uint16_t>(v[12]);
    s.out_h = static_cast<uint16_t>(v[14]), s.out_w = static_cast<uint16_t>(v[15]), s.out_c = static_cast<uint16_t>(v[16]);
  }
  return model::row_chain_scratch_bytes(p, tensors[0], tensors);
}

}  // namespace

int main() {
  char kind[8];
  while (std::scanf("%7s", kind) == 1) {
    int32_t v[19];
    uint32_t bytes = UINT32_MAX;
    if (std::strcmp(kind, "conv") == 0 && read_ints(v, 19))
      bytes = kernels::conv2d_s8_scratch_bytes(geometry(v), dims(v + 6), dims(v + 10), dims(v + 14), v[18] != 0);
    else if (std::strcmp(kind, "dw") == 0 && read_ints(v, 18))
      bytes = kernels::depthwise_conv2d_s8_scratch_bytes(geometry(v), dims(v + 6), dims(v + 10), dims(v + 14));
    else if (std::strcmp(kind, "ir") == 0)
      bytes = inverted_residual();
    else if (std::strcmp(kind, "chain") == 0)
      bytes = row_chain();
    if (bytes == UINT32_MAX) {
      std::fprintf(stderr, "bad line of kind %s\n", kind);
      return 2;
    }
    std::printf("%u\n", bytes);
  }
  return 0;
}
