// The blob's training section (blob format version 6): the backward program the host compiled
// from the training plan (quantize/training/lowering.py writes it; its struct strings mirror these
// layouts field by field). It lies in the data section at BlobHeader::training_offset:
//
//   [TrainHeader][TrainStep x num_steps]
//
// and its arrays (the error slots' tensors, channel lists, QAS factors, backward multipliers) are
// elsewhere in the data section at the offsets the header and steps give. Error, exponent, mask and
// scratch buffers are arena tensors of the blob, placed by the host's memory plan. An error slot
// is one error tensor of the backward program (README "The backward program"): int8 values in
// its arena tensor (slots may share one, as a RESHAPE's input and output errors do) and an
// int32 exponent in the exponents tensor. The numerics: README.md beside this file.
#pragma once

#include <cstddef>
#include <cstdint>

namespace train {

/// TrainHeader::flags
constexpr uint16_t kHeaderQas = 1u;  ///< the factors are QAS's (informational: the host chose them)

struct TrainHeader {
  uint16_t num_steps;     ///< backward steps, in decreasing operator index
  uint16_t num_errors;    ///< error slots; slot 0 receives dL/dlogits
  int32_t softmax_input_multiplier;  ///< the loss's softmax of the logits, beta 1 (SoftmaxParams)
  int32_t softmax_input_left_shift;
  int32_t softmax_diff_min;
  uint16_t flags;
  uint16_t logits;        ///< arena tensor of the int8 logits (the model output, or a final softmax's input)
  uint32_t errors_offset; ///< data: uint16 [num_errors], the arena tensor of each error slot
  uint16_t exponents;     ///< arena tensor: int32 [num_errors], each slot's exponent
  uint16_t reserved;
};
static_assert(sizeof(TrainHeader) == 28, "TrainHeader layout is shared with quantize/training/lowering.py");
static_assert(offsetof(TrainHeader, num_steps) == 0, "TrainHeader.num_steps");
static_assert(offsetof(TrainHeader, num_errors) == 2, "TrainHeader.num_errors");
static_assert(offsetof(TrainHeader, softmax_input_multiplier) == 4, "TrainHeader.softmax_input_multiplier");
static_assert(offsetof(TrainHeader, softmax_input_left_shift) == 8, "TrainHeader.softmax_input_left_shift");
static_assert(offsetof(TrainHeader, softmax_diff_min) == 12, "TrainHeader.softmax_diff_min");
static_assert(offsetof(TrainHeader, flags) == 16, "TrainHeader.flags");
static_assert(offsetof(TrainHeader, logits) == 18, "TrainHeader.logits");
static_assert(offsetof(TrainHeader, errors_offset) == 20, "TrainHeader.errors_offset");
static_assert(offsetof(TrainHeader, exponents) == 24, "TrainHeader.exponents");
static_assert(offsetof(TrainHeader, reserved) == 26, "TrainHeader.reserved");

/// TrainStep::flags
constexpr uint16_t kStepWeights = 1u;     ///< the op's weights update (planned channels)
constexpr uint16_t kStepBias = 2u;        ///< its bias updates (planned channels)
constexpr uint16_t kStepInputError = 4u;  ///< the error continues to its (first) input: in_error
constexpr uint16_t kStepMask = 8u;        ///< its output error is masked by its ReLU/ReLU6 mask
constexpr uint16_t kStepInputError2 = 16u;  ///< ADD, MUL, SUB: the error continues to the second input: in_error2
constexpr uint16_t kStepAccumulate = 32u;   ///< not the op's backward: slot in_error is added into out_error

struct TrainStep {
  uint16_t op;            ///< blob op index (kStepAccumulate: the op whose contribution it adds)
  uint16_t flags;
  uint16_t out_error;     ///< error slot at the op's output (kStepAccumulate: the slot added into)
  uint16_t in_error;      ///< error slot at its first input (kStepAccumulate: the contribution), or kNoTensor
  uint16_t mask;          ///< arena tensor: the output's mask bits, or kNoTensor
  uint16_t scratch;       ///< arena tensor: the kernel's scratch, or kNoTensor
  uint16_t num_channels;  ///< planned output channels
  uint16_t in_error2;     ///< error slot at an ADD's, MUL's or SUB's second input, or kNoTensor
  uint32_t channels_offset;         ///< data: uint16 [num_channels], ascending
  uint32_t qas_weight_offset;       ///< data: float32 [C_out] (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED)
  uint32_t qas_bias_offset;         ///< data: float32 [C_out]
  uint32_t back_multiplier_offset;  ///< data: int32 [C_out], s_W[o] * 2^(E_w + 31); MUL: a MulBackward;
                                    ///< LEAKY_RELU and LUT (LOGISTIC, TANH, HARD_SWISH): int32 [256], the
                                    ///< derivative table
  int32_t back_exponent;            ///< 4 + E_w; LEAKY_RELU and LUT: the derivative table's exponent
  int32_t mean_reciprocal;          ///< MEAN: round(2^16 / count), count: the inputs averaged into one output
  uint16_t patches;                 ///< arena tensor: the input's r x r patch means, or kNoTensor
  uint16_t gradient_filter;         ///< r: CONV_2D / DEPTHWISE_CONV_2D backward on r x r patches (1: none)
  uint16_t input;                   ///< CONCATENATION: the input whose error in_error is (one step per input)
  uint16_t reserved;
};
static_assert(sizeof(TrainStep) == 48, "TrainStep layout is shared with quantize/training/lowering.py");
static_assert(offsetof(TrainStep, op) == 0, "TrainStep.op");
static_assert(offsetof(TrainStep, flags) == 2, "TrainStep.flags");
static_assert(offsetof(TrainStep, out_error) == 4, "TrainStep.out_error");
static_assert(offsetof(TrainStep, in_error) == 6, "TrainStep.in_error");
static_assert(offsetof(TrainStep, mask) == 8, "TrainStep.mask");
static_assert(offsetof(TrainStep, scratch) == 10, "TrainStep.scratch");
static_assert(offsetof(TrainStep, num_channels) == 12, "TrainStep.num_channels");
static_assert(offsetof(TrainStep, in_error2) == 14, "TrainStep.in_error2");
static_assert(offsetof(TrainStep, channels_offset) == 16, "TrainStep.channels_offset");
static_assert(offsetof(TrainStep, qas_weight_offset) == 20, "TrainStep.qas_weight_offset");
static_assert(offsetof(TrainStep, qas_bias_offset) == 24, "TrainStep.qas_bias_offset");
static_assert(offsetof(TrainStep, back_multiplier_offset) == 28, "TrainStep.back_multiplier_offset");
static_assert(offsetof(TrainStep, back_exponent) == 32, "TrainStep.back_exponent");
static_assert(offsetof(TrainStep, mean_reciprocal) == 36, "TrainStep.mean_reciprocal");
static_assert(offsetof(TrainStep, patches) == 40, "TrainStep.patches");
static_assert(offsetof(TrainStep, gradient_filter) == 42, "TrainStep.gradient_filter");
static_assert(offsetof(TrainStep, input) == 44, "TrainStep.input");
static_assert(offsetof(TrainStep, reserved) == 46, "TrainStep.reserved");

/// MUL's factors (at TrainStep::back_multiplier_offset): the error at its first input scales by
/// the second input's scale s_2 = multiplier1 * 2^-(exponent1 + 27), the error at its second input
/// by s_1 (README "MUL").
struct MulBackward {
  int32_t multiplier1;
  int32_t exponent1;  ///< 4 + E: the first input's error exponent is the output's plus this
  int32_t multiplier2;
  int32_t exponent2;
};
static_assert(sizeof(MulBackward) == 16, "MulBackward layout is shared with quantize/training/lowering.py");
static_assert(offsetof(MulBackward, multiplier1) == 0, "MulBackward.multiplier1");
static_assert(offsetof(MulBackward, exponent1) == 4, "MulBackward.exponent1");
static_assert(offsetof(MulBackward, multiplier2) == 8, "MulBackward.multiplier2");
static_assert(offsetof(MulBackward, exponent2) == 12, "MulBackward.exponent2");

}  // namespace train
