// MUL and SUB of two int8 tensors, one broadcast against the other (a per-channel gate, a scalar
// constant) or of the same shape: the strides come from the tensors' dims (kernels/broadcast.h).
#include "ops.h"

namespace model {
namespace ops {

namespace {

/// An int8 operand: an activation, or a constant (a scalar factor) in the data section.
bool is_int8_operand(const TensorRecord& t) { return t.type == TensorType::kInt8; }

/// The strides of both inputs against the output's dims; false when either does not broadcast.
bool operand_strides(const OpContext& ctx, kernels::BroadcastStrides& s1, kernels::BroadcastStrides& s2) {
  const kernels::Dims out = dims_of(ctx.output_tensor());
  return kernels::broadcast_strides(dims_of(ctx.input_tensor(0)), out, s1) &&
         kernels::broadcast_strides(dims_of(ctx.input_tensor(1)), out, s2);
}

bool validate_operands(const OpContext& ctx) {
  if (ctx.op->num_inputs != 2 || !ctx.has_input(1)) return false;
  const TensorRecord& out = ctx.output_tensor();
  kernels::BroadcastStrides s1{}, s2{};
  return is_activation(out) && is_int8_operand(ctx.input_tensor(0)) && is_int8_operand(ctx.input_tensor(1)) &&
         out.size == static_cast<uint32_t>(dims_of(out).elements()) && operand_strides(ctx, s1, s2);
}

bool validate_mul(const OpContext& ctx) {
  const auto& p = ctx.params<kernels::MulParams>();
  return validate_operands(ctx) && p.act.min <= p.act.max;
}

bool validate_sub(const OpContext& ctx) {
  const auto& p = ctx.params<kernels::AddParams>();
  return validate_operands(ctx) && p.left_shift >= 0 && p.left_shift <= 24 && p.act.min <= p.act.max;
}

void eval_mul(const OpContext& ctx) {
  kernels::BroadcastStrides s1{}, s2{};
  operand_strides(ctx, s1, s2);
  kernels::mul_s8(ctx.params<kernels::MulParams>(), dims_of(ctx.output_tensor()), ctx.input<int8_t>(0), s1,
                  ctx.input<int8_t>(1), s2, ctx.output_s8());
}

void eval_sub(const OpContext& ctx) {
  kernels::BroadcastStrides s1{}, s2{};
  operand_strides(ctx, s1, s2);
  kernels::sub_s8(ctx.params<kernels::AddParams>(), dims_of(ctx.output_tensor()), ctx.input<int8_t>(0), s1,
                  ctx.input<int8_t>(1), s2, ctx.output_s8());
}

}  // namespace

const OpKernel kMul = {sizeof(kernels::MulParams), validate_mul, eval_mul, no_scratch};
const OpKernel kSub = {sizeof(kernels::AddParams), validate_sub, eval_sub, no_scratch};

}  // namespace ops
}  // namespace model
