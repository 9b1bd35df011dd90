// ADD of two int8 activations of the same size (no broadcasting).
#include "ops.h"

namespace model {
namespace ops {

namespace {

bool validate(const OpContext& ctx) {
  if (ctx.op->num_inputs != 2 || ctx.op->inputs[1] == kNoTensor) return false;
  const TensorRecord& other = ctx.input_tensor(1);
  const uint32_t size = ctx.output_tensor().size;
  const auto& p = ctx.params<kernels::AddParams>();
  return is_activation(other) && other.size == size && ctx.input_tensor(0).size == size && p.left_shift >= 0 &&
         p.left_shift <= 24 && p.act.min <= p.act.max;
}

void eval(const OpContext& ctx) {
  kernels::add_s8(ctx.params<kernels::AddParams>(), static_cast<int32_t>(ctx.output_tensor().size),
                  ctx.input<int8_t>(0), ctx.input<int8_t>(1), ctx.output_s8());
}

}  // namespace

const OpKernel kAdd = {sizeof(kernels::AddParams), validate, eval, no_scratch};

}  // namespace ops
}  // namespace model
