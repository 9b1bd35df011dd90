// INVERTED_RESIDUAL: a MobileNetV2 block run row by row (fused_block.h).
#include "../fused_block.h"
#include "ops.h"

namespace model {
namespace ops {

namespace {

bool validate(const OpContext& ctx) { return validate_inverted_residual(ctx); }

void eval(const OpContext& ctx) {
  run_inverted_residual(ctx.params<InvertedResidualParams>(),
                        {&ctx.input_tensor(0), ctx.input<int8_t>(0), &ctx.output_tensor(), ctx.output_s8(), ctx.arena,
                         ctx.data, ctx.tensors, ctx.scratch});
}

uint32_t scratch_bytes(const OpContext& ctx) {
  return inverted_residual_scratch_bytes(ctx.params<InvertedResidualParams>(), ctx.input_tensor(0),
                                         ctx.output_tensor(), ctx.tensors);
}

}  // namespace

const OpKernel kInvertedResidual = {sizeof(InvertedResidualParams), validate, eval, scratch_bytes};

}  // namespace ops
}  // namespace model
