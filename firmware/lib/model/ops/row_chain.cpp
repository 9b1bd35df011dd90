// ROW_CHAIN: convolutions run row by row, the intermediates never whole (row_chain.h).
#include "../row_chain.h"
#include "ops.h"

namespace model {
namespace ops {

namespace {

bool validate(const OpContext& ctx) { return validate_row_chain(ctx); }

void eval(const OpContext& ctx) {
  run_row_chain(ctx.params<RowChainParams>(), {&ctx.input_tensor(0), ctx.input<int8_t>(0), &ctx.output_tensor(),
                                               ctx.output_s8(), ctx.arena, ctx.data, ctx.tensors, ctx.scratch});
}

uint32_t scratch_bytes(const OpContext& ctx) {
  return row_chain_scratch_bytes(ctx.params<RowChainParams>(), ctx.input_tensor(0), ctx.tensors);
}

}  // namespace

const OpKernel kRowChain = {sizeof(RowChainParams), validate, eval, scratch_bytes};

}  // namespace ops
}  // namespace model
