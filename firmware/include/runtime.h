// The model runtime: what the protocol server (src/app/) asks of the model linked into the
// firmware. Implemented in src/runtime/ on top of the model blob (issue 5: forward pass; the
// training engine adds train()). Every function is safe to call when no model is linked: it then
// reports Status::kNoModel.
#pragma once

#include <cstddef>
#include <cstdint>

namespace runtime {

enum class Status : uint8_t {
  kOk = 0,
  kNoModel,          ///< No valid model blob is linked (or it was refused at boot).
  kBadInputSize,     ///< Input tensor size differs from the model's input.
  kBadLabel,         ///< Label out of range.
  kNotInThisBuild,   ///< The feature (e.g. training) is not compiled into this firmware.
  kInternal,
};

const char* status_name(Status status);

struct ModelInfo {
  const char* name;           ///< From the blob, e.g. "ref"; "" when no model.
  uint32_t hash;              ///< CRC-32 of the blob as linked (the host compares it to its copy).
  uint32_t input_bytes;       ///< int8 input tensor size.
  uint32_t output_bytes;      ///< int8 logits size (= number of classes).
  uint32_t arena_bytes;       ///< Activation arena the memory plan needs.
  uint32_t trainable_bytes;   ///< Size of the trainable-parameter region (checkpoints).
};

/// Validates the blob (magic, version, CRC, every offset and size) and prepares the arena.
/// On failure the model is refused: `why` receives a short reason, and every other call answers
/// kNoModel. Call once at boot.
Status init(const char** why);

const ModelInfo& model_info();

/// Forward pass. input: [input_bytes] int8 (NHWC, already quantized with the model's input
/// scale and zero point). logits: receives [output_bytes] int8. predicted: argmax of logits.
/// This and the other calls that run the model (infer_staged, train, train_staged) touch the
/// arena only when they return kOk: a refused call leaves it, and a staged input, as it was.
Status infer(const int8_t* input, size_t input_size, int8_t* logits, size_t logits_capacity, uint8_t* predicted);

/// The model's input tensor: [input_bytes] int8 (NHWC) in the activation arena, null when no
/// model. INPUT_CHUNK stages an input larger than one frame here, without another buffer; it
/// lies inside staging_area(), so a checkpoint staged there overwrites it, and every forward
/// pass (infer, train) overwrites it too.
int8_t* input_tensor();

/// infer() on the input already in input_tensor().
Status infer_staged(int8_t* logits, size_t logits_capacity, uint8_t* predicted);

/// One training step on one sample (firmware/lib/train/README.md): forward, loss, backward with
/// in-place updates of the trainable parameters. kNotInThisBuild for a blob without a training
/// section.
struct TrainResult {
  int32_t loss_q16;       ///< Cross-entropy loss, fixed point 16.16.
  uint8_t predicted;      ///< Class predicted before the update.
  bool correct;
};
Status train(const int8_t* input, size_t input_size, uint8_t label, TrainResult* result);

/// train() on the input already in input_tensor().
Status train_staged(uint8_t label, TrainResult* result);

/// The trainable parameters as one contiguous byte region in SRAM (checkpoints read and write
/// it; RESET_PARAMS restores it from flash): model_info().trainable_bytes long, null when no
/// model. Until the sparse-update plan chooses parameters it is the classifier head (the last
/// FULLY_CONNECTED's weights and bias, quantize/lower.py).
uint8_t* trainable_params();

/// Where CHECKPOINT_WRITE assembles a checkpoint before applying it: the activation arena, idle
/// between requests (null when no model). Its contents are lost to the next INFER or TRAIN, and
/// it holds input_tensor().
uint8_t* staging_area();
uint32_t staging_capacity();

/// SET_CONFIG's settings for the following steps: learning rate in (0, 1], PRNG seed (non-zero;
/// the updates' random draws restart from it when it differs from the seed in force) and whether
/// the layers the plan marks for gradient filtering filter their error.
void configure(float learning_rate, uint32_t seed, bool gradient_filter);
void reset_params();

}  // namespace runtime
