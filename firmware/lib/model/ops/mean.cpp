// MEAN over any of the NHWC dimensions (global average pooling: H and W).
#include "ops.h"

namespace model {
namespace ops {

namespace {

bool validate(const OpContext& ctx) {
  const int32_t axes = ctx.params<kernels::MeanParams>().axes;
  if (axes <= 0 || axes > 15) return false;
  return ctx.output_tensor().size ==
         static_cast<uint32_t>(kernels::mean_output_dims(dims_of(ctx.input_tensor(0)), axes).elements());
}

void eval(const OpContext& ctx) {
  kernels::mean_s8(ctx.params<kernels::MeanParams>(), dims_of(ctx.input_tensor(0)), ctx.input<int8_t>(0),
                   ctx.output_s8());
}

}  // namespace

const OpKernel kMean = {sizeof(kernels::MeanParams), validate, eval, no_scratch};

}  // namespace ops
}  // namespace model
