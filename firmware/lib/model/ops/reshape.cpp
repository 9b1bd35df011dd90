// RESHAPE: the same bytes under other dims; the planner usually gives output and input one buffer.
#include <cstring>

#include "ops.h"

namespace model {
namespace ops {

namespace {

bool validate(const OpContext& ctx) { return ctx.input_tensor(0).size == ctx.output_tensor().size; }

void eval(const OpContext& ctx) {
  if (ctx.inputs[0] != ctx.output) std::memmove(ctx.output, ctx.inputs[0], ctx.output_tensor().size);
}

}  // namespace

const OpKernel kReshape = {0, validate, eval, no_scratch};

}  // namespace ops
}  // namespace model
