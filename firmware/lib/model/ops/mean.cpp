// MEAN over H and W (global average pooling): [N, H, W, C] to N x C values.
#include "ops.h"

namespace model {
namespace ops {

namespace {

bool validate(const OpContext& ctx) {
  const TensorRecord& in = ctx.input_tensor(0);
  return ctx.output_tensor().size == uint32_t{in.dims[0]} * in.dims[3];
}

void eval(const OpContext& ctx) {
  kernels::mean_hw_s8(ctx.params<kernels::MeanParams>(), dims_of(ctx.input_tensor(0)), ctx.input<int8_t>(0),
                      ctx.output_s8());
}

}  // namespace

const OpKernel kMean = {sizeof(kernels::MeanParams), validate, eval, no_scratch};

}  // namespace ops
}  // namespace model
