// FULLY_CONNECTED: int8 weights [units, depth] in the data section, per-unit multipliers.
#include "ops.h"

namespace model {
namespace ops {

namespace {

bool validate(const OpContext& ctx) {
  if (ctx.op->num_inputs < 2 || ctx.op->inputs[1] == kNoTensor) return false;
  const TensorRecord& in = ctx.input_tensor(0);
  const TensorRecord& filter = ctx.input_tensor(1);
  const auto& p = ctx.params<FullyConnectedOpParams>();
  const uint32_t units = filter.dims[2], depth = filter.dims[3];
  return filter.location == Location::kData && filter.type == TensorType::kInt8 && depth != 0 &&
         in.size % depth == 0 && ctx.output_tensor().size == (in.size / depth) * units && ctx.bias_ok(2, units) &&
         channel_arrays_fit(p.multiplier_offset, p.shift_offset, units, ctx.header->data_size) &&
         p.fc.act.min <= p.fc.act.max;
}

void eval(const OpContext& ctx) {
  const auto& p = ctx.params<FullyConnectedOpParams>();
  const TensorRecord& filter = ctx.input_tensor(1);
  const int32_t depth = filter.dims[3], units = filter.dims[2];
  kernels::fully_connected_s8(p.fc, channel_arrays(ctx.data, p.multiplier_offset, p.shift_offset),
                              static_cast<int32_t>(ctx.input_tensor(0).size) / depth, depth, ctx.input<int8_t>(0),
                              units, ctx.input<int8_t>(1), ctx.input<int32_t>(2), ctx.output_s8());
}

}  // namespace

const OpKernel kFullyConnected = {sizeof(FullyConnectedOpParams), validate, eval, no_scratch};

}  // namespace ops
}  // namespace model
