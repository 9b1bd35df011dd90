#include "trainer.h"

#include <cstddef>
#include <cstring>

#include "accumulate.h"
#include "backward_derivative.h"
#include "backward_broadcast.h"
#include "backward_depthwise.h"
#include "backward_filter.h"
#include "backward_pool.h"
#include "concatenation_s8.h"
#include "mul_s8.h"
#include "pad_s8.h"
#include "slice_s8.h"
#include "requantize.h"
#include "softmax_s8.h"

namespace train {

namespace {

using model::OpCode;
using model::OpRecord;
using model::TensorRecord;
using model::dims_of;


bool has(const TrainStep& s, uint16_t flag) { return (s.flags & flag) != 0; }

template <typename T>
const T* data_at(const model::Model& m, uint32_t offset) {
  return reinterpret_cast<const T*>(m.data() + offset);
}

int32_t axis_size(const kernels::Dims& d, int32_t axis) {
  const int32_t all[4] = {d.n, d.h, d.w, d.c};
  return all[axis];
}

/// An input error that is the output error unchanged (RESHAPE, ADD): the host may have given both
/// slots the same bytes.
void pass_through(const int8_t* e, int8_t* in_error, uint32_t size) {
  if (in_error != e) std::memmove(in_error, e, size);
}

}  // namespace

ConvGeometry Trainer::geometry(const OpRecord& op) const {  // CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED
  const TensorRecord& in = model_->tensor(op.inputs[0]);
  const TensorRecord& out = model_->tensor(op.output);
  const TensorRecord& filter = model_->tensor(op.inputs[1]);
  if (op.opcode == OpCode::kFullyConnected) {
    const int32_t depth = filter.dims[3], units = filter.dims[2];
    return {{1, 1, 1, depth}, {1, 1, 1, units}, 1, 1, 1, 1, 0, 0, 1, 1};
  }
  const auto& p = data_at<model::ConvOpParams>(*model_, op.params_offset)->conv;
  return {dims_of(in), dims_of(out), filter.dims[1], filter.dims[2], p.stride_h, p.stride_w, p.pad_top, p.pad_left,
          p.dilation_h, p.dilation_w};
}

void Trainer::configure(float learning_rate, uint32_t seed, bool gradient_filter) {
  learning_rate_ = learning_rate;
  gradient_filter_ = gradient_filter;
  // A new seed restarts the draws; the same seed keeps them going, so that a host stepping the
  // learning rate through a schedule does not replay the same rounding noise in every segment.
  if (seed != seed_) rng_.state = seed;
  seed_ = seed;
}

const kernels::ActivationRange* Trainer::activation(const OpRecord& op) const {
  switch (op.opcode) {
    case OpCode::kConv2d:
    case OpCode::kDepthwiseConv2d:
      return &data_at<model::ConvOpParams>(*model_, op.params_offset)->conv.act;
    case OpCode::kFullyConnected:
      return &data_at<model::FullyConnectedOpParams>(*model_, op.params_offset)->fc.act;
    case OpCode::kAdd:
    case OpCode::kSub:
      return &data_at<kernels::AddParams>(*model_, op.params_offset)->act;
    case OpCode::kMul:
      return &data_at<kernels::MulParams>(*model_, op.params_offset)->act;
    case OpCode::kAveragePool2d:
    case OpCode::kMaxPool2d:
      return &data_at<kernels::PoolParams>(*model_, op.params_offset)->act;
    case OpCode::kActivation:
      return &data_at<kernels::ActivationParams>(*model_, op.params_offset)->act;
    default:
      return nullptr;
  }
}

void Trainer::forward() {
  const uint16_t num_ops = model_->header().num_ops;
  for (uint16_t i = 0; i < num_ops; ++i) {
    for (uint16_t k = 0; k < header_->num_steps; ++k) {  // before the op, which may write over its input
      const TrainStep& s = steps_[k];
      if (s.op != i || s.patches == model::kNoTensor || has(s, kStepAccumulate)) continue;
      const uint16_t input = model_->op(i).inputs[0];
      patch_means(static_cast<const int8_t*>(model_->tensor_data(input)), dims_of(model_->tensor(input)),
                  s.gradient_filter, static_cast<int8_t*>(model_->tensor_data(s.patches)));
    }
    model_->run(i);
    for (uint16_t k = 0; k < header_->num_steps; ++k) {
      const TrainStep& s = steps_[k];
      if (s.op != i || !has(s, kStepMask) || has(s, kStepAccumulate)) continue;
      const OpRecord& op = model_->op(i);
      const kernels::ActivationRange& act = *activation(op);
      make_mask(static_cast<const int8_t*>(model_->tensor_data(op.output)),
                static_cast<int32_t>(model_->tensor(op.output).size), act.min, act.max,
                static_cast<uint8_t*>(model_->tensor_data(s.mask)));
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
  for (int32_t j = 0; j < classes; ++j)
    p31[j] = kernels::rounding_divide_by_pot(p31[j], 16) - (j == label ? (1 << kLogitErrorExponent) : 0);
  return kLogitErrorExponent - normalise_into(p31, classes, this->error(0));
}

void Trainer::run(const TrainStep& s, uint16_t index) {
  const uint64_t start = now();
  uint64_t updates = 0;
  int32_t* exponent = exponents();
  if (has(s, kStepAccumulate)) {
    const uint32_t size = model_->tensor(errors_[s.out_error]).size;
    exponent[s.out_error] = accumulate_errors(error(s.out_error), exponent[s.out_error], error(s.in_error),
                                              exponent[s.in_error], static_cast<int32_t>(size));
    updates = now();
  } else {
    int second = 0;  // the second input's exponent
    const int next = backward(s, exponent[s.out_error], &updates, &second);
    if (updates == 0) updates = now();  // an op without parameters: all of its time is the error pass's
    if (has(s, kStepInputError)) exponent[s.in_error] = next;
    if (has(s, kStepInputError2)) exponent[s.in_error2] = second;
  }
  if (ticks_ != nullptr && index < kMaxTimedSteps) {
    ticks_->backward[index] = updates - start;
    ticks_->update[index] = now() - updates;
  }
}

int Trainer::backward(const TrainStep& s, int exponent, uint64_t* updates, int* second) {
  const OpRecord& op = model_->op(s.op);
  const TensorRecord& in = model_->tensor(op.inputs[0]);
  const TensorRecord& out = model_->tensor(op.output);
  int8_t* e = error(s.out_error);
  if (has(s, kStepMask)) apply_mask(e, static_cast<const uint8_t*>(model_->tensor_data(s.mask)), out.size);
  int8_t* in_error = has(s, kStepInputError) ? error(s.in_error) : nullptr;
  *second = exponent;  // ADD's (MUL and SUB compute their own)
  switch (op.opcode) {
    case OpCode::kReshape:
    case OpCode::kActivation:  // its mask, applied above, is all of a standalone RELU's backward
      if (in_error != nullptr) pass_through(e, in_error, out.size);
      return exponent;
    case OpCode::kAdd:
      // Both inputs receive the output error unchanged; copy to the second before the first may
      // share (and a later step overwrite) e's bytes.
      if (has(s, kStepInputError2)) pass_through(e, error(s.in_error2), out.size);
      if (in_error != nullptr) pass_through(e, in_error, out.size);
      return exponent;
    case OpCode::kMul:
    case OpCode::kSub:
      return element_wise(s, op, e, exponent, in_error, second);
    case OpCode::kConcatenation: {  // this step's input's part of the output error
      const auto& p = *data_at<kernels::ConcatenationParams>(*model_, op.params_offset);
      int32_t start = 0;
      for (uint16_t i = 0; i < s.input; ++i) start += axis_size(dims_of(model_->tensor(op.inputs[i])), p.axis);
      const TensorRecord& part = model_->tensor(op.inputs[s.input]);
      kernels::concatenation_part_s8(p, dims_of(out), e, start, dims_of(part), in_error);
      return exponent;
    }
    case OpCode::kSlice: {  // the output error in its range of the input, 0 elsewhere: a zero padding
      const auto& p = *data_at<kernels::SliceParams>(*model_, op.params_offset);
      kernels::PadParams pad{{0, 0, 0, 0}, {0, 0, 0, 0}, 0};
      pad.before[p.axis] = p.begin;
      pad.after[p.axis] = axis_size(dims_of(in), p.axis) - p.begin - axis_size(dims_of(out), p.axis);
      kernels::pad_s8(pad, dims_of(out), e, dims_of(in), in_error);
      return exponent;
    }
    case OpCode::kPad:
      pad_input_error(*data_at<kernels::PadParams>(*model_, op.params_offset), dims_of(in), dims_of(out), e,
                      in_error);
      return exponent;
    case OpCode::kMean: {
      const int32_t axes = data_at<kernels::MeanParams>(*model_, op.params_offset)->axes;
      return exponent + 16 - mean_input_error(e, dims_of(in), axes, s.mean_reciprocal, in_error);
    }
    case OpCode::kMaxPool2d:  // its input was kept alive for this (quantize/training/lowering.py)
      return exponent - max_pool_input_error(*data_at<kernels::PoolParams>(*model_, op.params_offset), dims_of(in),
                                             dims_of(out), static_cast<const int8_t*>(model_->tensor_data(op.inputs[0])),
                                             e, in_error);
    case OpCode::kLeakyRelu:
    case OpCode::kLut:  // their input was kept alive for this; the input error may be e's bytes
      return exponent + s.back_exponent -
             derivative_input_error(data_at<int32_t>(*model_, s.back_multiplier_offset), static_cast<int32_t>(out.size),
                                    static_cast<const int8_t*>(model_->tensor_data(op.inputs[0])), e, in_error);
    case OpCode::kAveragePool2d:
      return exponent + 16 - average_pool_input_error(*data_at<kernels::PoolParams>(*model_, op.params_offset),
                                                      dims_of(in), dims_of(out), e, in_error);
    default:
      return s.gradient_filter > 1 ? patched(s, op, e, exponent, in_error, updates)
                                   : parametric(s, op, e, exponent, in_error, updates);
  }
}

int Trainer::element_wise(const TrainStep& s, const OpRecord& op, const int8_t* e, int exponent, int8_t* in_error,
                          int* second) {
  const kernels::Dims out = dims_of(model_->tensor(op.output));
  const bool mul = op.opcode == OpCode::kMul;
  const MulBackward* f = mul ? data_at<MulBackward>(*model_, s.back_multiplier_offset) : nullptr;
  int next = exponent;
  for (int k = 0; k < 2; ++k) {  // k: the input whose error this computes
    int8_t* to = k == 0 ? in_error : (has(s, kStepInputError2) ? error(s.in_error2) : nullptr);
    if (to == nullptr) continue;
    const kernels::Dims operand = dims_of(model_->tensor(op.inputs[k]));
    int result;
    if (mul) {  // dL/dx1 = e * x2, dL/dx2 = e * x1
      const TensorRecord& other = model_->tensor(op.inputs[1 - k]);
      kernels::BroadcastStrides strides{};
      kernels::broadcast_strides(dims_of(other), out, strides);
      const MulFactor factor = k == 0 ? MulFactor{f->multiplier1, f->exponent1} : MulFactor{f->multiplier2, f->exponent2};
      // The forward's offsets (a constant's record carries no zero point): -z of the other input.
      const auto& p = *data_at<kernels::MulParams>(*model_, op.params_offset);
      const int32_t other_zero_point = -(k == 0 ? p.input2_offset : p.input1_offset);
      result = exponent + factor.exponent -
               mul_input_error(out, operand, e, static_cast<const int8_t*>(model_->tensor_data(op.inputs[1 - k])),
                               strides, other_zero_point, factor, to);
    } else {  // y = x1 - x2
      result = exponent - sub_input_error(out, operand, e, k == 0 ? 1 : -1, to);
    }
    (k == 0 ? next : *second) = result;
  }
  return next;
}

int Trainer::parametric(const TrainStep& s, const OpRecord& op, int8_t* e, int exponent, int8_t* in_error,
                        uint64_t* updates) {
  const ConvGeometry g = geometry(op);
  const bool depthwise = op.opcode == OpCode::kDepthwiseConv2d;
  auto* filter = static_cast<int8_t*>(model_->tensor_data(op.inputs[1]));
  const int32_t* back_multiplier = data_at<int32_t>(*model_, s.back_multiplier_offset);
  int next = exponent;
  if (in_error != nullptr)  // with the weights before this step's update
    next = exponent + s.back_exponent -
           (depthwise ? depthwise_input_error(g, e, filter, back_multiplier, in_error)
                      : conv_input_error(g, e, filter, back_multiplier, in_error,
                                         static_cast<uint8_t*>(model_->tensor_data(s.scratch))));
  *updates = now();
  const uint16_t* channels = data_at<uint16_t>(*model_, s.channels_offset);
  if (has(s, kStepBias))
    conv_bias_update(g, e, static_cast<int32_t*>(model_->tensor_data(op.inputs[2])),
                     {channels, s.num_channels, data_at<float>(*model_, s.qas_bias_offset), learning_rate_, exponent});
  if (has(s, kStepWeights)) {
    const auto* x = static_cast<const int8_t*>(model_->tensor_data(op.inputs[0]));
    const int32_t zero_point = model_->tensor(op.inputs[0]).zero_point;
    const ChannelUpdate u{channels, s.num_channels, data_at<float>(*model_, s.qas_weight_offset), learning_rate_,
                          exponent};
    if (depthwise)
      depthwise_weight_update(g, e, x, zero_point, filter, u, rng_);
    else
      conv_weight_update(g, e, x, zero_point, filter, u, rng_, static_cast<uint8_t*>(model_->tensor_data(s.scratch)));
  }
  return next;
}

int Trainer::patched(const TrainStep& s, const OpRecord& op, int8_t* e, int exponent, int8_t* in_error,
                     uint64_t* updates) {
  const ConvGeometry g = geometry(op);
  const bool depthwise = op.opcode == OpCode::kDepthwiseConv2d;
  const int32_t r = s.gradient_filter;
  auto* filter = static_cast<int8_t*>(model_->tensor_data(op.inputs[1]));
  const int32_t* back_multiplier = data_at<int32_t>(*model_, s.back_multiplier_offset);
  auto* scratch = s.scratch != model::kNoTensor ? static_cast<uint8_t*>(model_->tensor_data(s.scratch)) : nullptr;
  const uint16_t* channels = data_at<uint16_t>(*model_, s.channels_offset);
  // The bias reads the unfiltered error (its gradient, the error's sum, is what filtering keeps).
  if (has(s, kStepBias))
    conv_bias_update(g, e, static_cast<int32_t*>(model_->tensor_data(op.inputs[2])),
                     {channels, s.num_channels, data_at<float>(*model_, s.qas_bias_offset), learning_rate_, exponent});
  int next = exponent, weight_exponent = exponent;
  if (gradient_filter_) {
    weight_exponent = exponent - filter_error(g.out, r, e);  // e now holds the filtered error
    if (in_error != nullptr)
      next = weight_exponent + s.back_exponent + 16 -
             filtered_input_error(g, depthwise, r, e, filter, back_multiplier, in_error, scratch);
  } else if (in_error != nullptr) {
    next = exponent + s.back_exponent -
           (depthwise ? depthwise_input_error(g, e, filter, back_multiplier, in_error)
                      : conv_input_error(g, e, filter, back_multiplier, in_error, scratch));
  }
  *updates = now();
  if (!has(s, kStepWeights)) return next;
  const auto* means = static_cast<const int8_t*>(model_->tensor_data(s.patches));
  const int32_t zero_point = model_->tensor(op.inputs[0]).zero_point;
  const ChannelUpdate u{channels, s.num_channels, data_at<float>(*model_, s.qas_weight_offset), learning_rate_,
                        weight_exponent};
  if (gradient_filter_ && !depthwise && g.kh == 1 && g.kw == 1) {
    // A 1x1 convolution's filtered gradient is its ordinary gradient over the patch grid.
    const PatchGrid grid(g.in, r);
    const ConvGeometry patches{{grid.n, grid.ph, grid.pw, g.in.c}, {grid.n, grid.ph, grid.pw, g.out.c},
                                 1, 1, 1, 1, 0, 0, 1, 1};
    conv_weight_update(patches, e, means, zero_point, filter, u, rng_, scratch);
  } else {
    patch_weight_update(g, depthwise, r, gradient_filter_, e, means, zero_point, filter, u, rng_, scratch);
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
  exponents()[0] = loss_error(label, &outcome.loss_q16);
  if (ticks_ != nullptr) {
    ticks_->forward = forwarded - start;
    ticks_->loss = now() - forwarded;
  }
  for (uint16_t k = 0; k < header_->num_steps; ++k) run(steps_[k], k);
  return outcome;
}

}  // namespace train
