// The training step on the device: the int8 forward pass (keeping the masks the backward pass
// needs), the loss, and the backward program of the blob's training section (training_format.h)
// with in-place updates of the trainable parameters' SRAM copy. The numerics: README.md here.
#pragma once

#include <cstdint>

#include "backward_s8.h"
#include "model.h"
#include "numerics.h"
#include "training_format.h"

namespace train {

/// Classes the loss handles (its Q0.31 probabilities live on the stack: 4 bytes each).
constexpr uint32_t kMaxClasses = 256;

/// Backward steps a timed step records (the benchmark image's; longer programs are timed in part).
constexpr uint16_t kMaxTimedSteps = 64;

/// Where a step's time went, in counter ticks (Trainer::set_timing; benchmarks only).
struct StepTicks {
  uint64_t forward;                  ///< the forward pass with its masks
  uint64_t loss;                     ///< softmax, loss and the logits' error
  uint64_t backward[kMaxTimedSteps];  ///< per backward step: masks and the input error
  uint64_t update[kMaxTimedSteps];    ///< per backward step: bias and weight updates
};

struct StepOutcome {
  int32_t loss_q16;   ///< cross-entropy, 16.16 fixed point
  uint8_t predicted;  ///< argmax of the logits before the update
  bool correct;
};

class Trainer {
 public:
  /// Validates the loaded model's training section against its tensors and ops (every index,
  /// size and offset the step will use), so step() trusts it. False with `why` when malformed.
  bool bind(model::Model* model, const char** why);
  bool ready() const { return header_ != nullptr; }
  uint16_t num_steps() const { return header_ != nullptr ? header_->num_steps : 0; }
  /// SET_CONFIG: the learning rate (in (0, 1]) and the PRNG seed (non-zero) of the updates (the
  /// draws restart from the seed only when it differs from the one in force), and whether the
  /// layers the plan marks for gradient filtering filter their error (README "Gradient filtering").
  void configure(float learning_rate, uint32_t seed, bool gradient_filter = true);
  /// Records where each following step's time goes into `ticks` (null: no timing), read from
  /// `counter` (board::counter).
  void set_timing(StepTicks* ticks, uint64_t (*counter)()) {
    ticks_ = ticks;
    counter_ = counter;
  }
  /// One training step on the input already written to the model's input tensor.
  /// label < the model's classes (the caller checks).
  StepOutcome step(uint8_t label);

 private:
  // trainer_bind.cpp: the training section's validation.
  bool section_ok() const;
  bool step_ok(const TrainStep& s) const;
  bool op_step_ok(const TrainStep& s, const model::OpRecord& op) const;
  bool parametric_ok(const TrainStep& s, const model::OpRecord& op) const;
  bool patches_ok(const TrainStep& s, const model::OpRecord& op) const;
  bool derivative_ok(const TrainStep& s, const model::OpRecord& op) const;
  bool element_wise_ok(const TrainStep& s, const model::OpRecord& op) const;
  bool slot_ok(uint16_t slot, uint32_t size) const;
  // trainer.cpp: the step.
  ConvGeometry geometry(const model::OpRecord& op) const;
  const kernels::ActivationRange* activation(const model::OpRecord& op) const;
  int8_t* error(uint16_t slot) { return static_cast<int8_t*>(model_->tensor_data(errors_[slot])); }
  int32_t* exponents() { return static_cast<int32_t*>(model_->tensor_data(header_->exponents)); }
  void forward();
  int loss_error(uint8_t label, int32_t* loss_q16);
  void run(const TrainStep& s, uint16_t index);
  // `updates` receives the time the step's updates start (its error pass is done).
  // `second` receives the exponent of the second input's error (ADD, MUL, SUB).
  int backward(const TrainStep& s, int exponent, uint64_t* updates, int* second);
  // MUL and SUB: the error at each input the step names; returns the first's exponent.
  int element_wise(const TrainStep& s, const model::OpRecord& op, const int8_t* e, int exponent, int8_t* in_error,
                   int* second);
  int parametric(const TrainStep& s, const model::OpRecord& op, int8_t* e, int exponent, int8_t* in_error,
                 uint64_t* updates);
  // A layer the plan marks for gradient filtering (filtered or not, as SET_CONFIG says).
  int patched(const TrainStep& s, const model::OpRecord& op, int8_t* e, int exponent, int8_t* in_error,
              uint64_t* updates);
  uint64_t now() const { return counter_ != nullptr ? counter_() : 0u; }

  model::Model* model_ = nullptr;
  const TrainHeader* header_ = nullptr;
  const TrainStep* steps_ = nullptr;
  const uint16_t* errors_ = nullptr;  ///< the arena tensor of each error slot
  float learning_rate_ = 0.01f;
  uint32_t seed_ = 1;  ///< the seed in force (SET_CONFIG's); the PRNG starts from it at boot
  bool gradient_filter_ = true;  ///< SET_CONFIG's flag: the plan's gradient filters in force
  Xorshift32 rng_;
  StepTicks* ticks_ = nullptr;
  uint64_t (*counter_)() = nullptr;
};

}  // namespace train
