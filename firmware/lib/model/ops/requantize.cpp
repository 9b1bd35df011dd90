// QUANTIZE from int8 to int8: a change of scale and zero point, element by element.
#include "ops.h"

namespace model {
namespace ops {

namespace {

bool validate(const OpContext& ctx) { return ctx.input_tensor(0).size == ctx.output_tensor().size; }

void eval(const OpContext& ctx) {
  kernels::requantize_s8(ctx.params<kernels::RequantizeParams>(), static_cast<int32_t>(ctx.output_tensor().size),
                         ctx.input<int8_t>(0), ctx.output_s8());
}

}  // namespace

const OpKernel kRequantize = {sizeof(kernels::RequantizeParams), validate, eval, no_scratch};

}  // namespace ops
}  // namespace model
