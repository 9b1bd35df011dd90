// Trainer::bind: the training section is validated once against the model's tensors and ops, every
// index, size and offset the step uses, so that the step (trainer.cpp) trusts it.
#include <cstddef>

#include "backward_derivative.h"
#include "backward_broadcast.h"
#include "backward_filter.h"
#include "backward_pool.h"
#include "trainer.h"

namespace train {

namespace {

using model::kNoTensor;
using model::Location;
using model::OpCode;
using model::OpRecord;
using model::TensorRecord;
using model::TensorType;
using model::dims_of;

bool has(const TrainStep& s, uint16_t flag) { return (s.flags & flag) != 0; }

bool is_parametric(OpCode code) {
  return code == OpCode::kConv2d || code == OpCode::kDepthwiseConv2d || code == OpCode::kFullyConnected;
}

/// The ops whose backward multiplies the error by a derivative table (backward_derivative.h).
bool has_derivative(OpCode code) { return code == OpCode::kLeakyRelu || code == OpCode::kLut; }

/// Two arena tensors' bytes do not overlap (a kernel reading one while writing the other).
bool disjoint(const TensorRecord& a, const TensorRecord& b) {
  return a.offset + a.size <= b.offset || b.offset + b.size <= a.offset;
}

}  // namespace

bool Trainer::bind(model::Model* model, const char** why) {
  model_ = model;
  header_ = nullptr;
  const model::BlobHeader& blob = model->header();
  if (blob.training_size == 0) return true;  // a blob without training: TRAIN is not in this build
  header_ = reinterpret_cast<const TrainHeader*>(model->data() + blob.training_offset);
  steps_ = reinterpret_cast<const TrainStep*>(header_ + 1);
  errors_ = reinterpret_cast<const uint16_t*>(model->data() + header_->errors_offset);
  *why = "invalid training section";
  bool ok = blob.training_size >= sizeof(TrainHeader) && section_ok();
  for (uint16_t i = 0; ok && i < header_->num_steps; ++i) ok = step_ok(steps_[i]);
  if (!ok) header_ = nullptr;
  return ok;
}

bool Trainer::section_ok() const {
  const model::BlobHeader& blob = model_->header();
  const TrainHeader& h = *header_;
  if (blob.training_size != sizeof(TrainHeader) + uint32_t{h.num_steps} * sizeof(TrainStep)) return false;
  if (h.logits >= blob.num_tensors || h.exponents >= blob.num_tensors || h.num_errors == 0) return false;
  const TensorRecord& logits = model_->tensor(h.logits);
  if (logits.location != Location::kArena || logits.type != TensorType::kInt8 || logits.size > kMaxClasses)
    return false;
  if (h.softmax_input_left_shift < 0 || h.softmax_input_left_shift > 30) return false;
  if ((h.errors_offset & 1u) != 0 || !model::fits(h.errors_offset, h.num_errors * 2u, blob.data_size)) return false;
  for (uint16_t slot = 0; slot < h.num_errors; ++slot) {
    if (errors_[slot] >= blob.num_tensors) return false;
    const TensorRecord& t = model_->tensor(errors_[slot]);
    if (t.location != Location::kArena || t.type != TensorType::kInt8) return false;
  }
  const TensorRecord& exponents = model_->tensor(h.exponents);
  if (exponents.location != Location::kArena || exponents.size < h.num_errors * 4u || (exponents.offset & 3u) != 0)
    return false;
  return slot_ok(0, logits.size);
}

bool Trainer::slot_ok(uint16_t slot, uint32_t size) const {
  return slot < header_->num_errors && model_->tensor(errors_[slot]).size == size;
}

bool Trainer::step_ok(const TrainStep& s) const {
  const model::BlobHeader& blob = model_->header();
  if (s.op >= blob.num_ops) return false;
  if (has(s, kStepAccumulate)) {  // out_error += in_error: two slots of one size, in different bytes
    if (s.flags != (kStepAccumulate | kStepInputError) || s.out_error >= header_->num_errors) return false;
    const TensorRecord& target = model_->tensor(errors_[s.out_error]);
    return slot_ok(s.in_error, target.size) && disjoint(target, model_->tensor(errors_[s.in_error]));
  }
  const OpRecord& op = model_->op(s.op);
  // The input whose error in_error is: CONCATENATION names one per step, the others the first.
  if (s.input >= op.num_inputs || (s.input != 0 && op.opcode != OpCode::kConcatenation)) return false;
  const TensorRecord& in = model_->tensor(op.inputs[s.input]);
  const TensorRecord& out = model_->tensor(op.output);
  if (!slot_ok(s.out_error, out.size)) return false;
  if (has(s, kStepInputError) && !slot_ok(s.in_error, in.size)) return false;
  const bool binary = op.opcode == OpCode::kAdd || op.opcode == OpCode::kMul || op.opcode == OpCode::kSub;
  if (has(s, kStepInputError2) && (!binary || !slot_ok(s.in_error2, model_->tensor(op.inputs[1]).size)))
    return false;
  if (has(s, kStepMask)) {
    if (activation(op) == nullptr || s.mask >= blob.num_tensors) return false;
    const TensorRecord& mask = model_->tensor(s.mask);
    if (mask.location != Location::kArena || mask.size < (out.size + 7) / 8) return false;
  }
  // A kernel that computes its input error from the output error writes other bytes (RESHAPE
  // and ADD copy, and may share them; an element-wise derivative may write over its own).
  const bool copies = op.opcode == OpCode::kReshape || op.opcode == OpCode::kAdd;
  const bool same = has_derivative(op.opcode) && errors_[s.in_error] == errors_[s.out_error];
  if (has(s, kStepInputError) && !copies && !same &&
      !disjoint(model_->tensor(errors_[s.in_error]), model_->tensor(errors_[s.out_error])))
    return false;
  if (has(s, kStepInputError2) && !copies &&
      !disjoint(model_->tensor(errors_[s.in_error2]), model_->tensor(errors_[s.out_error])))
    return false;
  if (!is_parametric(op.opcode) && (has(s, kStepWeights) || has(s, kStepBias))) return false;
  if (s.gradient_filter != 1 ? !patches_ok(s, op) : s.patches != kNoTensor) return false;
  return op_step_ok(s, op);
}

bool Trainer::op_step_ok(const TrainStep& s, const OpRecord& op) const {
  switch (op.opcode) {
    case OpCode::kReshape:
    case OpCode::kAdd:
      return true;
    case OpCode::kPad:  // the model validated the padded shape
    case OpCode::kConcatenation:  // and the inputs' shapes along the axis
    case OpCode::kSlice:          // and the range
      return has(s, kStepInputError);
    case OpCode::kActivation:  // a standalone RELU (the host sends no RELU6 step): its backward is its mask
      return has(s, kStepInputError) && has(s, kStepMask);
    case OpCode::kMean:
      return has(s, kStepInputError) && s.mean_reciprocal > 0 && s.mean_reciprocal <= 65536;
    case OpCode::kMul:
    case OpCode::kSub:
      return element_wise_ok(s, op);
    case OpCode::kMaxPool2d:
    case OpCode::kAveragePool2d: {
      const auto& p = *reinterpret_cast<const kernels::PoolParams*>(model_->data() + op.params_offset);
      const int32_t rows = (p.filter_h + p.stride_h - 1) / p.stride_h;
      const int32_t cols = (p.filter_w + p.stride_w - 1) / p.stride_w;
      return has(s, kStepInputError) && rows * cols <= kMaxPoolWindows;
    }
    case OpCode::kLeakyRelu:
    case OpCode::kLut:
      return has(s, kStepInputError) && derivative_ok(s, op);
    case OpCode::kConv2d:
    case OpCode::kDepthwiseConv2d:
    case OpCode::kFullyConnected:
      return parametric_ok(s, op);
    default:
      return false;
  }
}

bool Trainer::derivative_ok(const TrainStep& s, const OpRecord& op) const {
  // README "Backward kernels", LEAKY_RELU ...: the table (int32 [256], |entry| < 2^23) in
  // back_multiplier_offset, its exponent in back_exponent; the kept input as large as the output,
  // in other bytes than the input error the kernel writes.
  const TensorRecord& in = model_->tensor(op.inputs[0]);
  const TensorRecord& out = model_->tensor(op.output);
  const uint32_t offset = s.back_multiplier_offset;
  if (in.type != TensorType::kInt8 || in.size != out.size || s.back_exponent < -64 || s.back_exponent > 64 ||
      (offset & 3u) != 0 || !model::fits(offset, kDerivativeEntries * 4u, model_->header().data_size) ||
      !disjoint(in, model_->tensor(errors_[s.in_error])))
    return false;
  const auto* table = reinterpret_cast<const int32_t*>(model_->data() + offset);
  for (int32_t i = 0; i < kDerivativeEntries; ++i)
    if (table[i] < -kDerivativeLimit || table[i] > kDerivativeLimit) return false;
  return true;
}

bool Trainer::element_wise_ok(const TrainStep& s, const OpRecord& op) const {
  // The model validated the operands' broadcasting; each input error's sum stays in int32.
  const bool mul = op.opcode == OpCode::kMul;
  const uint32_t out_size = model_->tensor(op.output).size;
  const int32_t limit = mul ? kMaxMulBroadcastTerms : kMaxSubBroadcastTerms;
  for (int k = 0; k < 2; ++k) {
    if (!has(s, k == 0 ? kStepInputError : kStepInputError2)) continue;
    const TensorRecord& operand = model_->tensor(op.inputs[k]);
    if (operand.location != Location::kArena || out_size / operand.size >= static_cast<uint32_t>(limit)) return false;
  }
  if (!mul) return true;
  const auto* f = reinterpret_cast<const MulBackward*>(model_->data() + s.back_multiplier_offset);
  return (s.back_multiplier_offset & 3u) == 0 &&
         model::fits(s.back_multiplier_offset, sizeof(MulBackward), model_->header().data_size) &&
         f->exponent1 >= -64 && f->exponent1 <= 64 && f->exponent2 >= -64 && f->exponent2 <= 64;
}

bool Trainer::patches_ok(const TrainStep& s, const OpRecord& op) const {
  // README "Gradient filtering": r of 2 or 4 on a convolution that keeps its input's H and W.
  if (op.opcode != OpCode::kConv2d && op.opcode != OpCode::kDepthwiseConv2d) return false;
  if (s.gradient_filter != 2 && s.gradient_filter != 4) return false;
  const TensorRecord& in = model_->tensor(op.inputs[0]);
  const TensorRecord& out = model_->tensor(op.output);
  if (in.dims[1] != out.dims[1] || in.dims[2] != out.dims[2]) return false;
  // Nor dilation, a depth multiplier or a stride over 2 (the host refuses them too).
  const ConvGeometry g = geometry(op);
  if (g.dilation_h != 1 || g.dilation_w != 1 || g.stride_h > 2 || g.stride_w > 2) return false;
  if (op.opcode == OpCode::kDepthwiseConv2d && in.dims[3] != out.dims[3]) return false;
  if (!has(s, kStepWeights)) return s.patches == kNoTensor;
  if (s.patches >= model_->header().num_tensors) return false;
  const TensorRecord& patches = model_->tensor(s.patches);
  const PatchGrid grid(dims_of(in), s.gradient_filter);
  return patches.location == Location::kArena && patches.type == TensorType::kInt8 &&
         patches.size >= static_cast<uint32_t>(grid.patches() * in.dims[3]);
}

bool Trainer::parametric_ok(const TrainStep& s, const OpRecord& op) const {
  const model::BlobHeader& blob = model_->header();
  const TensorRecord& in = model_->tensor(op.inputs[0]);
  const TensorRecord& filter = model_->tensor(op.inputs[1]);
  const uint32_t c_out = model_->tensor(op.output).dims[3];
  const uint32_t data_size = blob.data_size;
  auto channel_array = [&](uint32_t offset) {
    return (offset & 3u) == 0 && model::fits(offset, c_out * 4u, data_size);
  };
  if (filter.type != TensorType::kInt8 || !channel_array(s.qas_weight_offset) || !channel_array(s.qas_bias_offset) ||
      !channel_array(s.back_multiplier_offset) || s.back_exponent < -64 || s.back_exponent > 64)
    return false;
  if (op.opcode == OpCode::kFullyConnected && in.size != filter.dims[3]) return false;  // batch 1
  // CONV_2D and FULLY_CONNECTED use scratch (input error, weight gradient row); depthwise none.
  const uint32_t need = op.opcode == OpCode::kDepthwiseConv2d
                            ? 0u
                            : conv_scratch_bytes(geometry(op), has(s, kStepInputError), has(s, kStepWeights));
  if (need > 0) {
    if (s.scratch >= blob.num_tensors) return false;
    const TensorRecord& scratch = model_->tensor(s.scratch);
    if (scratch.location != Location::kArena || scratch.size < need || (scratch.offset & 3u) != 0) return false;
  }
  if (has(s, kStepWeights) && !model_->in_trainable(op.inputs[1])) return false;
  if (has(s, kStepBias) && (op.num_inputs < 3 || op.inputs[2] == kNoTensor || !model_->in_trainable(op.inputs[2])))
    return false;
  if (s.num_channels > 0) {
    if ((s.channels_offset & 1u) != 0 || !model::fits(s.channels_offset, s.num_channels * 2u, data_size)) return false;
    const auto* channels = reinterpret_cast<const uint16_t*>(model_->data() + s.channels_offset);
    for (uint16_t k = 0; k < s.num_channels; ++k)
      if (channels[k] >= c_out) return false;
  }
  return true;
}

}  // namespace train
