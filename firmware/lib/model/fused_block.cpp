#include "fused_block.h"

#include <cstring>

#include "add_s8.h"
#include "conv2d_s8.h"
#include "depthwise_conv2d_s8.h"
#include "op_context.h"

namespace model {

namespace {

struct BoundConv {
  const ConvOpParams* params;
  kernels::PerChannelQuant quant;
  const int8_t* filter;                  // nullptr when packed
  kernels::PackedFilter packed_filter;  // no words when int8
  kernels::Dims filter_dims;
  const int32_t* bias;
};

BoundConv bind(const ConvOpParams& p, uint16_t filter, uint16_t bias, const FusedBlockTensors& t) {
  const TensorRecord& f = t.tensors[filter];
  const bool packed = is_packed(f.type);
  return {&p,
          channel_arrays(t.data, p.multiplier_offset, p.shift_offset),
          packed ? nullptr : reinterpret_cast<const int8_t*>(t.data + f.offset),
          packed_filter(f, t.data),
          dims_of(f),
          bias == kNoTensor ? nullptr : reinterpret_cast<const int32_t*>(t.data + t.tensors[bias].offset)};
}

/// A 1x1 conv over one row of `width` pixels.
void pointwise_row(const BoundConv& c, int32_t width, int32_t in_channels, const int8_t* in, int8_t* out,
                   void* scratch) {
  kernels::conv2d_s8(c.params->conv, c.quant, {1, 1, width, in_channels}, in, c.filter_dims, c.filter, c.bias,
                     {1, 1, width, c.filter_dims.n}, out, c.packed_filter, scratch);
}

/// The scratch of such a row's conv2d_s8 call.
uint32_t pointwise_row_scratch_bytes(const ConvOpParams& p, const TensorRecord& filter, int32_t width,
                                     int32_t in_channels) {
  const kernels::Dims filter_dims = dims_of(filter);
  return kernels::conv2d_s8_scratch_bytes(p.conv, {1, 1, width, in_channels}, filter_dims,
                                          {1, 1, width, filter_dims.n}, is_packed(filter.type));
}

}  // namespace

void run_inverted_residual(const InvertedResidualParams& p, const FusedBlockTensors& t) {
  const kernels::Dims in = dims_of(*t.input), out = dims_of(*t.output);
  const BoundConv dw = bind(p.depthwise, p.depthwise_filter, p.depthwise_bias, t);
  const BoundConv project = bind(p.project, p.project_filter, p.project_bias, t);
  const int32_t expanded_c = dw.filter_dims.c, kh = dw.filter_dims.h, stride = p.depthwise.conv.stride_h;
  const int32_t pad_top = p.depthwise.conv.pad_top;
  const int32_t row_bytes = in.w * expanded_c;
  int8_t* window = reinterpret_cast<int8_t*>(t.arena + p.window_offset);
  int8_t* dw_row = reinterpret_cast<int8_t*>(t.arena + p.row_offset);
  int32_t window_first = 0, window_rows = 0;  // expanded rows [window_first, window_first + window_rows)

  for (int32_t oy = 0; oy < out.h; ++oy) {
    const int32_t top = oy * stride - pad_top;
    const int32_t lo = top > 0 ? top : 0;
    const int32_t hi = (top + kh) < in.h ? (top + kh) : in.h;
    const int8_t* rows = nullptr;  // the depthwise input: rows [lo, hi), contiguous
    if (p.has_expand) {
      const BoundConv expand = bind(p.expand, p.expand_filter, p.expand_bias, t);
      if (lo > window_first) {  // slide: drop the rows above the new window
        const int32_t drop = (lo - window_first) < window_rows ? (lo - window_first) : window_rows;
        std::memmove(window, window + drop * row_bytes, static_cast<size_t>((window_rows - drop) * row_bytes));
        window_rows -= drop;
        window_first = window_rows == 0 ? lo : window_first + drop;
      }
      for (; window_first + window_rows < hi; ++window_rows) {
        const int32_t y = window_first + window_rows;
        pointwise_row(expand, in.w, in.c, t.input_data + y * in.w * in.c, window + window_rows * row_bytes,
                      t.scratch);
      }
      rows = window;
    } else {
      rows = t.input_data + lo * row_bytes;  // no expansion: read the input rows in place
    }
    kernels::ConvParams window_params = p.depthwise.conv;
    window_params.pad_top = lo - top;  // taps above the image are skipped, as in the full kernel
    kernels::depthwise_conv2d_s8(window_params, dw.quant, {1, hi - lo, in.w, expanded_c}, rows, dw.filter_dims,
                                 dw.filter, dw.bias, {1, 1, out.w, expanded_c}, dw_row, t.scratch);
    int8_t* out_row = t.output_data + oy * out.w * out.c;
    pointwise_row(project, out.w, expanded_c, dw_row, out_row, t.scratch);
    if (p.residual != 0) {
      const int8_t* in_row = t.input_data + oy * in.w * in.c;  // stride 1, same shape as the output
      const int32_t size = out.w * out.c;
      if (p.residual == 1)
        kernels::add_s8(p.add, size, in_row, out_row, out_row);
      else
        kernels::add_s8(p.add, size, out_row, in_row, out_row);
    }
  }
}

uint32_t inverted_residual_scratch_bytes(const InvertedResidualParams& p, const TensorRecord& input,
                                         const TensorRecord& output, const TensorRecord* tensors) {
  const kernels::Dims in = dims_of(input), out = dims_of(output);
  const TensorRecord& dwf = tensors[p.depthwise_filter];
  const int32_t expanded_c = dwf.dims[3];
  // The depthwise call's input rows vary (those under the window); its scratch does not depend on them.
  const uint32_t depthwise = kernels::depthwise_conv2d_s8_scratch_bytes(
      p.depthwise.conv, {1, dwf.dims[1], in.w, expanded_c}, dims_of(dwf), {1, 1, out.w, expanded_c});
  const uint32_t expand =
      p.has_expand ? pointwise_row_scratch_bytes(p.expand, tensors[p.expand_filter], in.w, in.c) : 0u;
  const uint32_t project = pointwise_row_scratch_bytes(p.project, tensors[p.project_filter], out.w, expanded_c);
  const uint32_t most = depthwise > expand ? depthwise : expand;
  return most > project ? most : project;
}

}  // namespace model

namespace model {

bool FusedConvCheck::ok(const ConvOpParams& p, uint16_t filter, uint16_t bias, uint32_t channels,
                        bool packable) const {
  if (filter >= num_tensors) return false;
  const int32_t* bias_data = nullptr;
  if (bias != kNoTensor) {
    if (bias >= num_tensors) return false;
    const TensorRecord& b = tensors[bias];
    if (b.location != Location::kData || b.type != TensorType::kInt32 || b.size != channels * 4u) return false;
    bias_data = reinterpret_cast<const int32_t*>(data + b.offset);
  }
  const auto& c = p.conv;
  if (!channel_arrays_fit(p.multiplier_offset, p.shift_offset, channels, data_size)) return false;
  return conv_filter_ok(tensors[filter], data, c, channel_arrays(data, p.multiplier_offset, p.shift_offset),
                        bias_data, packable) && c.stride_h >= 1 && c.stride_w >= 1 &&
         c.dilation_h == 1 && c.dilation_w == 1 && c.pad_top >= 0 && c.pad_left >= 0 && c.act.min <= c.act.max;
}

bool validate_inverted_residual(const OpContext& ctx) {
  const auto& p = ctx.params<InvertedResidualParams>();
  const TensorRecord& in = ctx.input_tensor(0);
  const TensorRecord& out = ctx.output_tensor();
  const TensorRecord* const tensors = ctx.tensors;
  const uint16_t num_tensors = ctx.header->num_tensors;
  const uint32_t arena_size = ctx.header->arena_size;
  const FusedConvCheck check = {tensors, num_tensors, ctx.data, ctx.header->data_size};
  if (p.depthwise_filter >= num_tensors || p.project_filter >= num_tensors) return false;
  if (p.has_expand && p.expand_filter >= num_tensors) return false;
  const TensorRecord& dwf = tensors[p.depthwise_filter];
  const TensorRecord& pf = tensors[p.project_filter];
  const uint32_t in_c = in.dims[3], expanded_c = dwf.dims[3], out_c = out.dims[3];
  if (in.dims[0] != 1 || out.dims[0] != 1 || dwf.dims[0] != 1) return false;
  if (p.has_expand) {
    const TensorRecord& ef = tensors[p.expand_filter];
    if (ef.dims[0] != expanded_c || ef.dims[1] != 1 || ef.dims[2] != 1 || ef.dims[3] != in_c) return false;
    if (p.expand.conv.stride_h != 1 || p.expand.conv.stride_w != 1 || p.expand.conv.pad_top != 0 ||
        p.expand.conv.pad_left != 0 || !check.ok(p.expand, p.expand_filter, p.expand_bias, expanded_c, true))
      return false;
  } else if (expanded_c != in_c) {
    return false;
  }
  if (pf.dims[0] != out_c || pf.dims[1] != 1 || pf.dims[2] != 1 || pf.dims[3] != expanded_c) return false;
  if (!check.ok(p.depthwise, p.depthwise_filter, p.depthwise_bias, expanded_c, false) ||
      !check.ok(p.project, p.project_filter, p.project_bias, out_c, true) || p.project.conv.stride_h != 1 ||
      p.project.conv.stride_w != 1)
    return false;
  // Every output row's window must reach into the image.
  const int32_t kh = dwf.dims[1], stride = p.depthwise.conv.stride_h, pad_top = p.depthwise.conv.pad_top;
  if (kh - pad_top <= 0 || (static_cast<int32_t>(out.dims[1]) - 1) * stride - pad_top >= in.dims[1]) return false;
  if (p.residual > 2) return false;
  if (p.residual != 0) {
    for (int d = 0; d < 4; ++d)
      if (in.dims[d] != out.dims[d]) return false;
    if (p.add.left_shift < 0 || p.add.left_shift > 24 || p.add.act.min > p.add.act.max) return false;
  }
  const uint32_t row_size = uint32_t{out.dims[2]} * expanded_c;
  const uint32_t window_size = p.has_expand ? uint32_t(kh) * in.dims[2] * expanded_c : 0u;
  if (!fits(p.row_offset, row_size, arena_size) || !fits(p.window_offset, window_size, arena_size)) return false;
  // The kernels' scratch is in use with them (Model checks the rest of it: inside the arena, clear of
  // the operands; where it is not inside, that check fails the op).
  const OpRecord& op = *ctx.op;
  const bool scratch = op.scratch_size != 0 && fits(op.scratch_offset, op.scratch_size, arena_size);
  const uint32_t buffers[2][2] = {{p.row_offset, row_size}, {p.window_offset, window_size}};
  for (const auto& b : buffers) {
    if (b[1] == 0) continue;
    if (!disjoint(b[0], b[1], in.offset, in.size) || !disjoint(b[0], b[1], out.offset, out.size)) return false;
    if (scratch && !disjoint(b[0], b[1], op.scratch_offset, op.scratch_size)) return false;
  }
  return window_size == 0 || disjoint(p.row_offset, row_size, p.window_offset, window_size);
}

}  // namespace model
