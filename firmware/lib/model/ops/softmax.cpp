// SOFTMAX over the last dimension.
#include "ops.h"

namespace model {
namespace ops {

namespace {

bool validate(const OpContext& ctx) {
  const auto& p = ctx.params<kernels::SoftmaxParams>();
  return ctx.input_tensor(0).size == ctx.output_tensor().size && p.input_left_shift >= 0 && p.input_left_shift < 31;
}

void eval(const OpContext& ctx) {
  const TensorRecord& out = ctx.output_tensor();
  kernels::softmax_s8(ctx.params<kernels::SoftmaxParams>(), static_cast<int32_t>(out.size) / out.dims[3], out.dims[3],
                      ctx.input<int8_t>(0), ctx.output_s8());
}

}  // namespace

const OpKernel kSoftmax = {sizeof(kernels::SoftmaxParams), validate, eval, no_scratch};

}  // namespace ops
}  // namespace model
