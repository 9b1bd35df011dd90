// PAD of a 4-D int8 activation with a constant.
#include "ops.h"

namespace model {
namespace ops {

namespace {

bool validate(const OpContext& ctx) {
  const TensorRecord& in = ctx.input_tensor(0);
  const TensorRecord& out = ctx.output_tensor();
  const auto& p = ctx.params<kernels::PadParams>();
  for (int d = 0; d < 4; ++d)
    if (p.before[d] < 0 || p.after[d] < 0 || out.dims[d] != in.dims[d] + p.before[d] + p.after[d]) return false;
  return true;
}

void eval(const OpContext& ctx) {
  kernels::pad_s8(ctx.params<kernels::PadParams>(), dims_of(ctx.input_tensor(0)), ctx.input<int8_t>(0),
                  dims_of(ctx.output_tensor()), ctx.output_s8());
}

}  // namespace

const OpKernel kPad = {sizeof(kernels::PadParams), validate, eval, no_scratch};

}  // namespace ops
}  // namespace model
