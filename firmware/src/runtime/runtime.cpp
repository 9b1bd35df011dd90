// The model runtime (include/runtime.h) over the model blob.
//
// Where the blob comes from:
//  - normally, `mcutrain compile` generates a C++ source defining mcutrain_model_blob (in flash)
//    and mcutrain_model_arena (in .bss, sized by the host's memory plan, so the linker's RAM
//    budget covers it), built in with `mcutrain build --model`. A firmware built without a model
//    has no such symbols (they are weak) and answers kNoModel.
//  - test images built with MCUTRAIN_SIDELOAD_BLOB_ADDRESS read a blob that QEMU's loader put at
//    that address, so one image can be checked against many models without relinking.
#include "runtime.h"

#include <cstring>

#include "board.h"
#include "model.h"
#include "trainer.h"

extern "C" {
extern const uint8_t mcutrain_model_blob[] __attribute__((weak));
extern const uint32_t mcutrain_model_blob_size __attribute__((weak));
extern uint8_t mcutrain_model_arena[] __attribute__((weak));
extern const uint32_t mcutrain_model_arena_size __attribute__((weak));
extern uint8_t mcutrain_model_trainable[] __attribute__((weak));
extern const uint32_t mcutrain_model_trainable_size __attribute__((weak));
}

namespace runtime {

namespace {

model::Model g_model;
train::Trainer g_trainer;
ModelInfo g_info = {"", 0u, 0u, 0u, 0u, 0u};
char g_name[model::kNameLength + 1] = {};

#if defined(MCUTRAIN_SIDELOAD_BLOB_ADDRESS)
#ifndef MCUTRAIN_SIDELOAD_ARENA_BYTES
#define MCUTRAIN_SIDELOAD_ARENA_BYTES (160 * 1024)
#endif
#ifndef MCUTRAIN_SIDELOAD_TRAINABLE_BYTES
#define MCUTRAIN_SIDELOAD_TRAINABLE_BYTES (48 * 1024)  // mbv2-w0.35-128's sparse plan: 32,880
#endif
alignas(16) uint8_t g_sideload_arena[MCUTRAIN_SIDELOAD_ARENA_BYTES];
alignas(16) uint8_t g_sideload_trainable[MCUTRAIN_SIDELOAD_TRAINABLE_BYTES];
// The side-loaded blob's own header says how long it is; the loader region is 2 MB.
constexpr uint32_t kSideloadCapacity = 2u * 1024u * 1024u;
#endif

struct BlobSource {
  const uint8_t* blob;
  uint32_t blob_capacity;
  uint8_t* arena;
  uint32_t arena_capacity;
  uint8_t* trainable;  ///< SRAM for the trainable parameters (Model::attach_trainable)
  uint32_t trainable_capacity;
};

BlobSource blob_source() {
#if defined(MCUTRAIN_SIDELOAD_BLOB_ADDRESS)
  return {reinterpret_cast<const uint8_t*>(MCUTRAIN_SIDELOAD_BLOB_ADDRESS), kSideloadCapacity, g_sideload_arena,
          sizeof(g_sideload_arena), g_sideload_trainable, sizeof(g_sideload_trainable)};
#else
  if (mcutrain_model_blob == nullptr || &mcutrain_model_blob_size == nullptr) return {};
  const bool has_trainable = mcutrain_model_trainable != nullptr && &mcutrain_model_trainable_size != nullptr;
  return {mcutrain_model_blob, mcutrain_model_blob_size, mcutrain_model_arena, mcutrain_model_arena_size,
          has_trainable ? mcutrain_model_trainable : nullptr, has_trainable ? mcutrain_model_trainable_size : 0u};
#endif
}

}  // namespace

const char* status_name(Status status) {
  switch (status) {
    case Status::kOk: return "ok";
    case Status::kNoModel: return "no model";
    case Status::kBadInputSize: return "bad input size";
    case Status::kBadLabel: return "label out of range";
    case Status::kNotInThisBuild: return "not in this build";
    case Status::kInternal: break;
  }
  return "internal error";
}

Status init(const char** why) {
  const BlobSource source = blob_source();
  if (source.blob == nullptr) {
    *why = "no model linked";
    return Status::kNoModel;
  }
  const model::LoadError error = g_model.load(source.blob, source.blob_capacity, source.arena, source.arena_capacity);
  if (error != model::LoadError::kOk) {
    *why = model::load_error_name(error);
    return Status::kNoModel;
  }
  if (g_model.trainable_bytes() > source.trainable_capacity) {
    g_model = model::Model();
    *why = "trainable region larger than the SRAM reserved for it";
    return Status::kNoModel;
  }
  g_model.attach_trainable(source.trainable);
  if (!g_trainer.bind(&g_model, why)) {
    g_model = model::Model();
    return Status::kNoModel;
  }
  const model::BlobHeader& header = g_model.header();
  std::memcpy(g_name, header.name, model::kNameLength);
  g_info = {g_name, header.crc32, g_model.input_bytes(), g_model.output_bytes(), header.arena_size, header.trainable_size};
  *why = "ok";
  return Status::kOk;
}

const ModelInfo& model_info() { return g_info; }

model::Model& model_for_selftest() { return g_model; }
train::Trainer& trainer_for_selftest() { return g_trainer; }

int8_t* input_tensor() { return g_model.loaded() ? g_model.input() : nullptr; }

Status infer(const int8_t* input, size_t input_size, int8_t* logits, size_t logits_capacity, uint8_t* predicted) {
  if (!g_model.loaded()) return Status::kNoModel;
  if (input_size != g_model.input_bytes() || logits_capacity < g_model.output_bytes()) return Status::kBadInputSize;
  std::memcpy(g_model.input(), input, input_size);
  return infer_staged(logits, logits_capacity, predicted);
}

Status infer_staged(int8_t* logits, size_t logits_capacity, uint8_t* predicted) {
  if (!g_model.loaded()) return Status::kNoModel;
  if (logits_capacity < g_model.output_bytes()) return Status::kBadInputSize;
  g_model.invoke();
  const int8_t* out = g_model.output();
  uint8_t best = 0;
  for (uint32_t i = 0; i < g_model.output_bytes(); ++i) {
    logits[i] = out[i];
    if (out[i] > out[best]) best = static_cast<uint8_t>(i);
  }
  *predicted = best;
  return Status::kOk;
}

Status train(const int8_t* input, size_t input_size, uint8_t label, TrainResult* result) {
  if (!g_model.loaded()) return Status::kNoModel;
  if (!g_trainer.ready()) return Status::kNotInThisBuild;
  if (input_size != g_model.input_bytes()) return Status::kBadInputSize;
  if (label >= g_model.output_bytes()) return Status::kBadLabel;
  std::memcpy(g_model.input(), input, input_size);
  return train_staged(label, result);
}

Status train_staged(uint8_t label, TrainResult* result) {
  if (!g_model.loaded()) return Status::kNoModel;
  if (!g_trainer.ready()) return Status::kNotInThisBuild;
  if (label >= g_model.output_bytes()) return Status::kBadLabel;
  const train::StepOutcome outcome = g_trainer.step(label);
  *result = {outcome.loss_q16, outcome.predicted, outcome.correct};
  return Status::kOk;
}

uint8_t* staging_area() { return g_model.loaded() ? blob_source().arena : nullptr; }
uint32_t staging_capacity() { return g_model.loaded() ? blob_source().arena_capacity : 0u; }

void configure(float learning_rate, uint32_t seed, bool gradient_filter) {
  g_trainer.configure(learning_rate, seed, gradient_filter);
}

uint8_t* trainable_params() { return g_model.loaded() ? g_model.trainable() : nullptr; }

void reset_params() {
  if (g_model.loaded()) g_model.restore_trainable();
}

}  // namespace runtime
