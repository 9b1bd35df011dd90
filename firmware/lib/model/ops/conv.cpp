// CONV_2D and DEPTHWISE_CONV_2D: one parameter block (ConvOpParams), one set of checks.
#include "ops.h"

namespace model {
namespace ops {

namespace {

bool validate_conv(const OpContext& ctx, bool depthwise) {
  if (ctx.op->num_inputs < 2 || ctx.op->inputs[1] == kNoTensor) return false;
  const TensorRecord& in = ctx.input_tensor(0);
  const TensorRecord& out = ctx.output_tensor();
  const TensorRecord& filter = ctx.input_tensor(1);
  const auto& p = ctx.params<ConvOpParams>();
  const uint32_t out_c = out.dims[3];
  const bool shapes_ok =
      in.dims[0] == out.dims[0] &&
      (depthwise ? (filter.dims[0] == 1 && filter.dims[3] == out_c && in.dims[3] >= 1 && out_c % in.dims[3] == 0)
                 : (filter.dims[0] == out_c && filter.dims[3] == in.dims[3]));
  const bool params_ok = p.conv.stride_h >= 1 && p.conv.stride_w >= 1 && p.conv.dilation_h >= 1 &&
                         p.conv.dilation_w >= 1 && p.conv.pad_top >= 0 && p.conv.pad_left >= 0 &&
                         p.conv.act.min <= p.conv.act.max;
  return shapes_ok && params_ok && ctx.bias_ok(2, out_c) &&
         channel_arrays_fit(p.multiplier_offset, p.shift_offset, out_c, ctx.header->data_size) &&
         conv_filter_ok(filter, ctx.data, p.conv, channel_arrays(ctx.data, p.multiplier_offset, p.shift_offset),
                        ctx.flash_bias(2), !depthwise);
}

bool validate_conv2d(const OpContext& ctx) { return validate_conv(ctx, false); }
bool validate_depthwise_conv2d(const OpContext& ctx) { return validate_conv(ctx, true); }

void eval_conv2d(const OpContext& ctx) {
  const auto& p = ctx.params<ConvOpParams>();
  const TensorRecord& filter = ctx.input_tensor(1);
  const kernels::PackedFilter packed = packed_filter(filter, ctx.data);
  kernels::conv2d_s8(p.conv, channel_arrays(ctx.data, p.multiplier_offset, p.shift_offset),
                     dims_of(ctx.input_tensor(0)), ctx.input<int8_t>(0), dims_of(filter),
                     packed.pairs ? nullptr : ctx.input<int8_t>(1), ctx.input<int32_t>(2), dims_of(ctx.output_tensor()),
                     ctx.output_s8(), packed, ctx.scratch);
}

uint32_t conv2d_scratch_bytes(const OpContext& ctx) {
  const TensorRecord& filter = ctx.input_tensor(1);
  return kernels::conv2d_s8_scratch_bytes(ctx.params<ConvOpParams>().conv, dims_of(ctx.input_tensor(0)),
                                          dims_of(filter), dims_of(ctx.output_tensor()), is_packed(filter.type));
}

void eval_depthwise_conv2d(const OpContext& ctx) {
  const auto& p = ctx.params<ConvOpParams>();
  kernels::depthwise_conv2d_s8(p.conv, channel_arrays(ctx.data, p.multiplier_offset, p.shift_offset),
                               dims_of(ctx.input_tensor(0)), ctx.input<int8_t>(0), dims_of(ctx.input_tensor(1)),
                               ctx.input<int8_t>(1), ctx.input<int32_t>(2), dims_of(ctx.output_tensor()),
                               ctx.output_s8(), ctx.scratch);
}

uint32_t depthwise_conv2d_scratch_bytes(const OpContext& ctx) {
  return kernels::depthwise_conv2d_s8_scratch_bytes(ctx.params<ConvOpParams>().conv, dims_of(ctx.input_tensor(0)),
                                                    dims_of(ctx.input_tensor(1)), dims_of(ctx.output_tensor()));
}

}  // namespace

const OpKernel kConv2d = {sizeof(ConvOpParams), validate_conv2d, eval_conv2d, conv2d_scratch_bytes};
const OpKernel kDepthwiseConv2d = {sizeof(ConvOpParams), validate_depthwise_conv2d, eval_depthwise_conv2d,
                                   depthwise_conv2d_scratch_bytes};

}  // namespace ops
}  // namespace model
