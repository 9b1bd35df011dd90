#include "trainer.h"

#include <cstddef>
#include <cstring>

#include "requantize.h"
#include "softmax_s8.h"

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

template <typename T>
const T* data_at(const model::Model& m, uint32_t offset) {
  return reinterpret_cast<const T*>(m.data() + offset);
}

}  // namespace

bool Trainer::bind(model::Model* model, const char** why) {
  model_ = model;
  header_ = nullptr;
  const model::BlobHeader& blob = model->header();
  if (blob.training_size == 0) return true;  // a blob without training: TRAIN is not in this build
  const auto* header = data_at<TrainHeader>(*model, blob.training_offset);
  const uint32_t need = sizeof(TrainHeader) + uint32_t{header->num_steps} * sizeof(TrainStep);
  *why = "invalid training section";
  if (blob.training_size < sizeof(TrainHeader) || blob.training_size != need) return false;
  if (header->logits_error >= blob.num_tensors || header->logits >= blob.num_tensors) return false;
  const TensorRecord& logits = model->tensor(header->logits);
  if (logits.location != Location::kArena || logits.type != TensorType::kInt8 || logits.size > kMaxClasses)
    return false;
  const TensorRecord& logits_error = model->tensor(header->logits_error);
  if (logits_error.location != Location::kArena || logits_error.size != logits.size) return false;
  if (header->softmax_input_left_shift < 0 || header->softmax_input_left_shift > 30) return false;
  header_ = header;
  steps_ = reinterpret_cast<const TrainStep*>(header + 1);
  for (uint16_t i = 0; i < header->num_steps; ++i) {
    if (!step_ok(steps_[i])) {
      header_ = nullptr;
      return false;
    }
  }
  return true;
}

bool Trainer::step_ok(const TrainStep& s) const {
  const model::BlobHeader& blob = model_->header();
  if (s.op >= blob.num_ops) return false;
  const OpRecord& op = model_->op(s.op);
  auto arena_tensor = [&](uint16_t index, uint32_t size) {
    if (index >= blob.num_tensors) return false;
    const TensorRecord& t = model_->tensor(index);
    return t.location == Location::kArena && t.size >= size && (t.offset & 3u) == 0;
  };
  const TensorRecord& in = model_->tensor(op.inputs[0]);
  const TensorRecord& out = model_->tensor(op.output);
  if (!arena_tensor(s.out_error, out.size) || model_->tensor(s.out_error).size != out.size) return false;
  if (has(s, kStepInputError) && (!arena_tensor(s.in_error, in.size) || model_->tensor(s.in_error).size != in.size))
    return false;
  if (has(s, kStepMask) && !arena_tensor(s.mask, (out.size + 7) / 8)) return false;
  const bool parametric = op.opcode == OpCode::kConv2d || op.opcode == OpCode::kFullyConnected;
  if (!parametric) {
    if (has(s, kStepWeights) || has(s, kStepBias) || has(s, kStepMask)) return false;
    if (op.opcode == OpCode::kReshape) return !has(s, kStepInputError) || s.in_error == s.out_error;
    return op.opcode == OpCode::kMean && has(s, kStepInputError) && s.mean_reciprocal > 0 &&
           s.mean_reciprocal <= 65536;
  }
  const TensorRecord& filter = model_->tensor(op.inputs[1]);
  const uint32_t c_out = out.dims[3];
  const uint32_t data_size = blob.data_size;
  auto channel_array = [&](uint32_t offset) { return (offset & 3u) == 0 && model::fits(offset, c_out * 4u, data_size); };
  if (filter.type != TensorType::kInt8 || !channel_array(s.qas_weight_offset) || !channel_array(s.qas_bias_offset) ||
      !channel_array(s.back_multiplier_offset) || s.back_exponent < -64 || s.back_exponent > 64)
    return false;
  if (op.opcode == OpCode::kFullyConnected && in.size != filter.dims[3]) return false;  // batch 1
  if (op.opcode == OpCode::kConv2d) {
    const auto& p = *data_at<model::ConvOpParams>(*model_, op.params_offset);
    if (p.conv.dilation_h != 1 || p.conv.dilation_w != 1) return false;
  }
  const uint32_t scratch = conv_scratch_bytes(geometry(op), has(s, kStepInputError), has(s, kStepWeights));
  if (scratch > 0 && !arena_tensor(s.scratch, scratch)) return false;
  if (has(s, kStepWeights) && !model_->in_trainable(op.inputs[1])) return false;
  if (has(s, kStepBias) && (op.num_inputs < 3 || op.inputs[2] == kNoTensor || !model_->in_trainable(op.inputs[2])))
    return false;
  if (s.num_channels > 0) {
    if ((s.channels_offset & 1u) != 0 || !model::fits(s.channels_offset, s.num_channels * 2u, data_size)) return false;
    const uint16_t* channels = data_at<uint16_t>(*model_, s.channels_offset);
    for (uint16_t k = 0; k < s.num_channels; ++k)
      if (channels[k] >= c_out) return false;
  }
  return true;
}

ConvGeometry Trainer::geometry(const OpRecord& op) const {
  const TensorRecord& in = model_->tensor(op.inputs[0]);
  const TensorRecord& out = model_->tensor(op.output);
  const TensorRecord& filter = model_->tensor(op.inputs[1]);
  if (op.opcode == OpCode::kFullyConnected) {
    const int32_t depth = filter.dims[3], units = filter.dims[2];
    return {{1, 1, 1, depth}, {1, 1, 1, units}, 1, 1, 1, 1, 0, 0};
  }
  const auto& p = data_at<model::ConvOpParams>(*model_, op.params_offset)->conv;
  return {dims_of(in), dims_of(out), filter.dims[1], filter.dims[2], p.stride_h, p.stride_w, p.pad_top, p.pad_left};
}

void Trainer::configure(float learning_rate, uint32_t seed) {
  learning_rate_ = learning_rate;
  // A new seed restarts the draws; the same seed keeps them going, so that a host stepping the
  // learning rate through a schedule does not replay the same rounding noise in every segment.
  if (seed != seed_) rng_.state = seed;
  seed_ = seed;
}

void Trainer::forward() {
  const uint16_t num_ops = model_->header().num_ops;
  for (uint16_t i = 0; i < num_ops; ++i) {
    model_->run(i);
    for (uint16_t k = 0; k < header_->num_steps; ++k) {
      const TrainStep& s = steps_[k];
      if (s.op != i || !has(s, kStepMask)) continue;
      const OpRecord& op = model_->op(i);
      const TensorRecord& y = model_->tensor(op.output);
      const auto& act = op.opcode == OpCode::kConv2d
                            ? data_at<model::ConvOpParams>(*model_, op.params_offset)->conv.act
                            : data_at<model::FullyConnectedOpParams>(*model_, op.params_offset)->fc.act;
      make_mask(static_cast<const int8_t*>(model_->tensor_data(op.output)), static_cast<int32_t>(y.size), act.min,
                act.max, static_cast<uint8_t*>(model_->tensor_data(s.mask)));
    }
  }
}

int Trainer::loss_error(uint8_t label, int32_t* loss_q16) {
  const int8_t* logits = static_cast<const int8_t*>(model_->tensor_data(header_->logits));
  const int32_t classes = static_cast<int32_t>(model_->tensor(header_->logits).size);
  const kernels::SoftmaxParams params{header_->softmax_input_multiplier, header_->softmax_input_left_shift,
                                      header_->softmax_diff_min};
  int32_t p31[kMaxClasses];
  kernels::softmax_q31(params, classes, logits, p31);
  *loss_q16 = train::loss_q16(p31[label]);
  uint32_t peak = 0;
  for (int32_t j = 0; j < classes; ++j) {
    p31[j] = kernels::rounding_divide_by_pot(p31[j], 16) - (j == label ? (1 << kLogitErrorExponent) : 0);
    const uint32_t m = p31[j] < 0 ? 0u - static_cast<uint32_t>(p31[j]) : static_cast<uint32_t>(p31[j]);
    peak = m > peak ? m : peak;
  }
  const int shift = normalise_shift(peak);
  int8_t* error = static_cast<int8_t*>(model_->tensor_data(header_->logits_error));
  for (int32_t j = 0; j < classes; ++j) error[j] = normalised(p31[j], shift);
  return kLogitErrorExponent - shift;
}

int Trainer::backward(const TrainStep& s, uint16_t index, int exponent) {
  const uint64_t start = now();
  const OpRecord& op = model_->op(s.op);
  const TensorRecord& in = model_->tensor(op.inputs[0]);
  const TensorRecord& out = model_->tensor(op.output);
  int8_t* e = static_cast<int8_t*>(model_->tensor_data(s.out_error));
  if (has(s, kStepMask)) apply_mask(e, static_cast<const uint8_t*>(model_->tensor_data(s.mask)), out.size);
  int8_t* in_error = has(s, kStepInputError) ? static_cast<int8_t*>(model_->tensor_data(s.in_error)) : nullptr;
  int next = exponent;
  uint64_t updates = 0;
  if (op.opcode == OpCode::kMean) {
    next = exponent + 16 - mean_input_error(e, dims_of(in), s.mean_reciprocal, in_error);
    updates = now();
  } else if (op.opcode != OpCode::kReshape) {  // CONV_2D, FULLY_CONNECTED (bind() allows no other)
    const ConvGeometry g = geometry(op);
    auto* filter = static_cast<int8_t*>(model_->tensor_data(op.inputs[1]));
    if (in_error != nullptr)  // with the weights before this step's update
      next = exponent + s.back_exponent -
             conv_input_error(g, e, filter, data_at<int32_t>(*model_, s.back_multiplier_offset), in_error,
                              static_cast<uint8_t*>(model_->tensor_data(s.scratch)));
    updates = now();
    const uint16_t* channels = data_at<uint16_t>(*model_, s.channels_offset);
    if (has(s, kStepBias))
      conv_bias_update(g, e, static_cast<int32_t*>(model_->tensor_data(op.inputs[2])),
                       {channels, s.num_channels, data_at<float>(*model_, s.qas_bias_offset), learning_rate_,
                        exponent});
    if (has(s, kStepWeights))
      conv_weight_update(g, e, static_cast<const int8_t*>(model_->tensor_data(op.inputs[0])), in.zero_point, filter,
                         {channels, s.num_channels, data_at<float>(*model_, s.qas_weight_offset), learning_rate_,
                          exponent},
                         rng_, static_cast<uint8_t*>(model_->tensor_data(s.scratch)));
  } else {
    updates = now();
  }
  if (ticks_ != nullptr && index < kMaxTimedSteps) {
    ticks_->backward[index] = updates - start;
    ticks_->update[index] = now() - updates;
  }
  return next;
}

StepOutcome Trainer::step(uint8_t label) {
  const uint64_t start = now();
  forward();
  const uint64_t forwarded = now();
  const int8_t* logits = static_cast<const int8_t*>(model_->tensor_data(header_->logits));
  uint8_t best = 0;
  for (uint32_t j = 1; j < model_->tensor(header_->logits).size; ++j)
    if (logits[j] > logits[best]) best = static_cast<uint8_t>(j);
  StepOutcome outcome{0, best, best == label};
  int exponent = loss_error(label, &outcome.loss_q16);
  if (ticks_ != nullptr) {
    ticks_->forward = forwarded - start;
    ticks_->loss = now() - forwarded;
  }
  for (uint16_t k = 0; k < header_->num_steps; ++k) exponent = backward(steps_[k], k, exponent);
  return outcome;
}

}  // namespace train
