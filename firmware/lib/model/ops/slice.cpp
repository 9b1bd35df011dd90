// STRIDED_SLICE (stride 1, one axis), SPLIT and SPLIT_V (one op per output): a range of an int8
// activation along one axis, in its quantization (the host refuses others, as TFLite Micro copies).
#include "ops.h"

namespace model {
namespace ops {

namespace {

bool validate(const OpContext& ctx) {
  const TensorRecord& in = ctx.input_tensor(0);
  const TensorRecord& out = ctx.output_tensor();
  const auto& p = ctx.params<kernels::SliceParams>();
  if (p.axis < 0 || p.axis > 3 || p.begin < 0 || in.zero_point != out.zero_point) return false;
  for (int d = 0; d < 4; ++d)
    if (d != p.axis && in.dims[d] != out.dims[d]) return false;
  // Not in place: the output's bytes are not the input's.
  return p.begin + out.dims[p.axis] <= in.dims[p.axis] && disjoint(in.offset, in.size, out.offset, out.size);
}

void eval(const OpContext& ctx) {
  kernels::slice_s8(ctx.params<kernels::SliceParams>(), dims_of(ctx.input_tensor(0)), ctx.input<int8_t>(0),
                    dims_of(ctx.output_tensor()), ctx.output_s8());
}

}  // namespace

const OpKernel kSlice = {sizeof(kernels::SliceParams), validate, eval, no_scratch};

}  // namespace ops
}  // namespace model
