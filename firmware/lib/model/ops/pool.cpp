// AVERAGE_POOL_2D and MAX_POOL_2D: one parameter block (PoolParams), one set of checks.
#include "ops.h"

namespace model {
namespace ops {

namespace {

bool validate(const OpContext& ctx) {
  const TensorRecord& in = ctx.input_tensor(0);
  const TensorRecord& out = ctx.output_tensor();
  const auto& p = ctx.params<kernels::PoolParams>();
  return in.dims[0] == out.dims[0] && in.dims[3] == out.dims[3] && p.stride_h >= 1 && p.stride_w >= 1 &&
         p.filter_h >= 1 && p.filter_w >= 1 && p.pad_top >= 0 && p.pad_left >= 0 && p.act.min <= p.act.max;
}

void eval_average(const OpContext& ctx) {
  kernels::average_pool_s8(ctx.params<kernels::PoolParams>(), dims_of(ctx.input_tensor(0)), ctx.input<int8_t>(0),
                           dims_of(ctx.output_tensor()), ctx.output_s8());
}

void eval_max(const OpContext& ctx) {
  kernels::max_pool_s8(ctx.params<kernels::PoolParams>(), dims_of(ctx.input_tensor(0)), ctx.input<int8_t>(0),
                       dims_of(ctx.output_tensor()), ctx.output_s8());
}

}  // namespace

const OpKernel kAveragePool2d = {sizeof(kernels::PoolParams), validate, eval_average, no_scratch};
const OpKernel kMaxPool2d = {sizeof(kernels::PoolParams), validate, eval_max, no_scratch};

}  // namespace ops
}  // namespace model
