// Host stand-ins for the board link and the model runtime, so the protocol server runs in a
// plain program (native unit tests, the libFuzzer target). Include in exactly one source file.
//
// The fake model: input kFakeInputBytes int8, kFakeClasses logits (logit i = input[i] + i, so the
// tests can predict the class), kFakeTrainableBytes of trainable parameters that TRAIN changes
// (so a test can count executions) and reset_params() restores. Its arena is laid out like a
// real one where it matters to the server: the input tensor lies inside the checkpoint staging
// area (overlapping a staged checkpoint's last bytes), and every forward pass overwrites it.
// The tensor ends where the arena ends, so AddressSanitizer sees any write past it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "board.h"
#include "runtime.h"

namespace fakes {

constexpr uint32_t kFakeInputBytes = 16;
constexpr uint32_t kFakeClasses = 4;
constexpr uint32_t kFakeTrainableBytes = 300;
constexpr uint32_t kFakeArenaBytes = kFakeTrainableBytes + 8;
constexpr uint8_t kClobbered = 0xA5;  // what a forward pass leaves in the input tensor

struct Link {
  uint8_t out[1 << 16];
  size_t out_size = 0;
  uint64_t now_ns = 0;  // the fake counter runs at 1 GHz
};
inline Link g_link;

struct Model {
  bool loaded = true;
  bool training = true;  // false: train() answers kNotInThisBuild
  uint8_t params[kFakeTrainableBytes];
  uint32_t train_calls = 0;
  uint32_t infer_calls = 0;
  runtime::ModelInfo info = {"fake", 0x12345678u, kFakeInputBytes, kFakeClasses, 1024u, kFakeTrainableBytes};
};
inline Model g_model;
inline uint8_t g_arena[kFakeArenaBytes];  // a global of its own: AddressSanitizer guards its ends

inline uint8_t flashed_param(uint32_t i) { return static_cast<uint8_t>(i * 7u + 3u); }

inline int8_t* input_tensor() { return reinterpret_cast<int8_t*>(g_arena + kFakeArenaBytes - kFakeInputBytes); }

inline void reset() {
  g_link.out_size = 0;
  g_link.now_ns = 0;
  g_model.loaded = true;
  g_model.training = true;
  g_model.train_calls = 0;
  g_model.infer_calls = 0;
  for (uint32_t i = 0; i < kFakeTrainableBytes; ++i) g_model.params[i] = flashed_param(i);
}

}  // namespace fakes

namespace board {
void init() {}
const Info& info() {
  static const Info info = {"fake-board", "host", 1000000u, 1000000000u};
  return info;
}
MemoryInfo memory() { return {262144u, 1000u, 16384u}; }
uint32_t stack_high_water_bytes() { return 512u; }
void write(const uint8_t* data, size_t size) {
  for (size_t i = 0; i < size && fakes::g_link.out_size < sizeof(fakes::g_link.out); ++i) {
    fakes::g_link.out[fakes::g_link.out_size++] = data[i];
  }
}
size_t read(uint8_t*, size_t, uint32_t) { return 0; }
uint64_t counter() { return fakes::g_link.now_ns += 1000u; }  // every reading advances 1 us
ResetReason reset_reason() { return ResetReason::kPowerOn; }
const char* reset_reason_name(ResetReason) { return "power-on"; }
void halt(int) {
  for (;;) {
  }
}
}  // namespace board

namespace runtime {
const char* status_name(Status status) { return status == Status::kOk ? "ok" : "fake error"; }
Status init(const char** why) {
  *why = fakes::g_model.loaded ? "ok" : "no model linked";
  return fakes::g_model.loaded ? Status::kOk : Status::kNoModel;
}
const ModelInfo& model_info() { return fakes::g_model.info; }
int8_t* input_tensor() { return fakes::g_model.loaded ? fakes::input_tensor() : nullptr; }
Status infer_staged(int8_t* logits, size_t capacity, uint8_t* predicted) {
  if (!fakes::g_model.loaded) return Status::kNoModel;
  if (capacity < fakes::kFakeClasses) return Status::kBadInputSize;
  ++fakes::g_model.infer_calls;
  const int8_t* input = fakes::input_tensor();
  uint8_t best = 0;
  for (uint32_t i = 0; i < fakes::kFakeClasses; ++i) {
    logits[i] = static_cast<int8_t>(input[i] + static_cast<int8_t>(i));
    if (logits[i] > logits[best]) best = static_cast<uint8_t>(i);
  }
  *predicted = best;
  std::memset(fakes::input_tensor(), fakes::kClobbered, fakes::kFakeInputBytes);
  return Status::kOk;
}
Status infer(const int8_t* input, size_t input_size, int8_t* logits, size_t capacity, uint8_t* predicted) {
  if (!fakes::g_model.loaded) return Status::kNoModel;
  if (input_size != fakes::kFakeInputBytes || capacity < fakes::kFakeClasses) return Status::kBadInputSize;
  std::memcpy(fakes::input_tensor(), input, input_size);
  return infer_staged(logits, capacity, predicted);
}
Status train_staged(uint8_t label, TrainResult* result) {
  if (!fakes::g_model.loaded) return Status::kNoModel;
  if (!fakes::g_model.training) return Status::kNotInThisBuild;
  if (label >= fakes::kFakeClasses) return Status::kBadLabel;
  ++fakes::g_model.train_calls;
  fakes::g_model.params[0] = static_cast<uint8_t>(fakes::g_model.params[0] + 1);  // "an update"
  result->loss_q16 = 65536 / 2;
  result->predicted = static_cast<uint8_t>(fakes::input_tensor()[0] & 3);
  result->correct = result->predicted == label;
  std::memset(fakes::input_tensor(), fakes::kClobbered, fakes::kFakeInputBytes);
  return Status::kOk;
}
Status train(const int8_t* input, size_t input_size, uint8_t label, TrainResult* result) {
  if (!fakes::g_model.loaded) return Status::kNoModel;
  if (!fakes::g_model.training) return Status::kNotInThisBuild;
  if (input_size != fakes::kFakeInputBytes) return Status::kBadInputSize;
  if (label >= fakes::kFakeClasses) return Status::kBadLabel;
  std::memcpy(fakes::input_tensor(), input, input_size);
  return train_staged(label, result);
}
uint8_t* trainable_params() { return fakes::g_model.loaded ? fakes::g_model.params : nullptr; }
void configure(float, uint32_t, bool) {}
uint8_t* staging_area() { return fakes::g_model.loaded ? fakes::g_arena : nullptr; }
uint32_t staging_capacity() { return fakes::g_model.loaded ? fakes::kFakeArenaBytes : 0u; }
void reset_params() {
  for (uint32_t i = 0; i < fakes::kFakeTrainableBytes; ++i) fakes::g_model.params[i] = fakes::flashed_param(i);
}
}  // namespace runtime
