// CONCATENATION of 2..kMaxOpInputs int8 activations along one axis, all in the output's
// quantization (the host refuses others, as TFLite Micro's Prepare): a byte copy.
#include "ops.h"

namespace model {
namespace ops {

namespace {

static_assert(kMaxOpInputs == kernels::kMaxConcatenationInputs, "concatenation_s8 takes every input a record holds");

bool validate(const OpContext& ctx) {
  const int count = ctx.op->num_inputs;
  const auto& p = ctx.params<kernels::ConcatenationParams>();
  if (count < 2 || p.axis < 0 || p.axis > 3) return false;
  const TensorRecord& out = ctx.output_tensor();
  uint32_t along = 0;
  for (int i = 0; i < count; ++i) {
    if (!ctx.has_input(i)) return false;
    const TensorRecord& in = ctx.input_tensor(i);
    if (!is_activation(in) || in.zero_point != out.zero_point || ctx.op->inputs[i] == ctx.op->output) return false;
    for (int d = 0; d < 4; ++d)
      if (d != p.axis && in.dims[d] != out.dims[d]) return false;
    along += in.dims[p.axis];
    // Not in place: the output's bytes are no input's.
    if (!disjoint(in.offset, in.size, out.offset, out.size)) return false;
  }
  return along == out.dims[p.axis];
}

void eval(const OpContext& ctx) {
  kernels::Dims dims[kMaxOpInputs];
  const int8_t* inputs[kMaxOpInputs];
  const int count = ctx.op->num_inputs;
  for (int i = 0; i < count; ++i) {
    dims[i] = dims_of(ctx.input_tensor(i));
    inputs[i] = ctx.input<int8_t>(i);
  }
  kernels::concatenation_s8(ctx.params<kernels::ConcatenationParams>(), count, dims, inputs,
                            dims_of(ctx.output_tensor()), ctx.output_s8());
}

}  // namespace

const OpKernel kConcatenation = {sizeof(kernels::ConcatenationParams), validate, eval, no_scratch};

}  // namespace ops
}  // namespace model
