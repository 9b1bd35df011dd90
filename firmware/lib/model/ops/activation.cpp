// A standalone RELU or RELU6: a rescale, then a clamp, element by element (kernels::activation_s8).
#include "ops.h"

namespace model {
namespace ops {

namespace {

bool validate(const OpContext& ctx) { return ctx.input_tensor(0).size == ctx.output_tensor().size; }

void eval(const OpContext& ctx) {
  kernels::activation_s8(ctx.params<kernels::ActivationParams>(), static_cast<int32_t>(ctx.output_tensor().size),
                         ctx.input<int8_t>(0), ctx.output_s8());
}

}  // namespace

const OpKernel kActivation = {sizeof(kernels::ActivationParams), validate, eval, no_scratch};

}  // namespace ops
}  // namespace model
