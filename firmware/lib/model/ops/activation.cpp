// A standalone RELU or RELU6 (a rescale, then a clamp) and LEAKY_RELU (a rescale by the sign),
// element by element (kernels/requantize_s8.h); LOGISTIC, TANH and HARD_SWISH, a lookup per element
// in the table the host computed (kernels/lut_s8.h).
#include "ops.h"

namespace model {
namespace ops {

namespace {

bool validate(const OpContext& ctx) { return ctx.input_tensor(0).size == ctx.output_tensor().size; }

void eval(const OpContext& ctx) {
  kernels::activation_s8(ctx.params<kernels::ActivationParams>(), static_cast<int32_t>(ctx.output_tensor().size),
                         ctx.input<int8_t>(0), ctx.output_s8());
}

void eval_leaky(const OpContext& ctx) {
  kernels::leaky_relu_s8(ctx.params<kernels::LeakyReluParams>(), static_cast<int32_t>(ctx.output_tensor().size),
                         ctx.input<int8_t>(0), ctx.output_s8());
}

void eval_lut(const OpContext& ctx) {
  kernels::lut_s8(ctx.params<kernels::LutParams>(), static_cast<int32_t>(ctx.output_tensor().size),
                  ctx.input<int8_t>(0), ctx.output_s8());
}

}  // namespace

const OpKernel kActivation = {sizeof(kernels::ActivationParams), validate, eval, no_scratch};
const OpKernel kLeakyRelu = {sizeof(kernels::LeakyReluParams), validate, eval_leaky, no_scratch};
const OpKernel kLut = {sizeof(kernels::LutParams), validate, eval_lut, no_scratch};

}  // namespace ops
}  // namespace model
