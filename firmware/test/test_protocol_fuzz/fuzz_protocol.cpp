// Fuzz target of the protocol server: arbitrary bytes go through the frame decoder and every
// request handler (with the fake board and model of ../test_protocol/fakes.h).
//
// Built two ways:
// - by tests/test_fuzz_protocol.py with clang, -fsanitize=fuzzer,address,undefined and
//   -DMCUTRAIN_LIBFUZZER: libFuzzer drives LLVMFuzzerTestOneInput for a bounded time, and any
//   sanitizer report or crash fails the test;
// - by `pio test -e native` as a plain program: main() below replays a fixed set of
//   pseudo-random and mutated-valid inputs, so the native unit tests exercise the same target.
//
// Input format: byte 0 picks the model state (bit 0: no model, bit 1: no training) and the mode
// (bit 2); the rest is split at 0xFE bytes into pieces, each followed by a poll() after a time
// step taken from the piece's length (so stall timeouts fire too).
// - raw mode: each piece goes to Server::receive as it is (the decoder's view of line noise);
// - frame mode: each piece is (type, seq, payload...) and is sent as a correctly encoded frame,
//   so the fuzzer reaches every request handler past the CRC check.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "../test_protocol/fakes.h"
#include "crc32.h"
#include "frame.h"
#include "server.h"
#include "wire.h"

namespace {

protocol::Server g_server;
uint8_t g_frame[protocol::kMaxFrameBytes];

void feed(const uint8_t* data, size_t size, void*) { g_server.receive(data, size); }

void send_piece(const uint8_t* piece, size_t size, bool as_frame) {
  if (!as_frame) {
    g_server.receive(piece, size);
    return;
  }
  if (size < 2) return;
  size_t length = size - 2;
  if (length > protocol::kMaxPayload) length = protocol::kMaxPayload;
  std::memcpy(g_frame + protocol::kHeaderBytes, piece + 2, length);
  protocol::encode_frame(g_frame, {protocol::kVersion, piece[0], piece[1], static_cast<uint16_t>(length)}, feed,
                         nullptr);
}

void check_invariants() {
  // Parameters change only through a complete, CRC-checked checkpoint, a training step or a
  // reset; none of them can leave the fake's region partially written, which the fuzzer
  // cannot see directly, so here we check what must always hold.
  const protocol::Counters& c = g_server.counters();
  if (c.samples_correct > c.samples_trained) __builtin_trap();
  if (c.samples_trained != fakes::g_model.train_calls) __builtin_trap();  // never executed twice
  if (c.samples_inferred != fakes::g_model.infer_calls) __builtin_trap();
  // One staging at a time in the arena, never longer than what it stages.
  const protocol::Staging staging = g_server.staging();
  const uint32_t limit = staging == protocol::Staging::kInput        ? fakes::kFakeInputBytes
                         : staging == protocol::Staging::kCheckpoint ? fakes::kFakeTrainableBytes
                                                                     : 0u;
  if (g_server.staged_bytes() > limit) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fakes::reset();
  bool as_frames = false;
  if (size > 0) {
    fakes::g_model.loaded = (data[0] & 1) == 0;
    fakes::g_model.training = (data[0] & 2) == 0;
    as_frames = (data[0] & 4) != 0;
    ++data;
    --size;
  }
  const char* why = "";
  g_server.begin(runtime::init(&why), why);
  size_t start = 0;
  for (size_t i = 0; i <= size; ++i) {
    if (i == size || data[i] == 0xFE) {
      send_piece(data + start, i - start, as_frames);
      fakes::g_link.now_ns += static_cast<uint64_t>(i - start) * 10000000ull;  // 10 ms per byte of piece
      g_server.poll();
      fakes::g_link.out_size = 0;
      check_invariants();
      start = i + 1;
    }
  }
  return 0;
}

#if !defined(MCUTRAIN_LIBFUZZER)
#include "../unit_test.h"

namespace {

uint32_t g_rng = 0x12345678u;
uint32_t next_random() {
  g_rng ^= g_rng << 13;
  g_rng ^= g_rng >> 17;
  g_rng ^= g_rng << 5;
  return g_rng;
}

struct Buffer {
  uint8_t data[4096];
  size_t size = 0;
};

void append(const uint8_t* data, size_t size, void* context) {
  Buffer* b = static_cast<Buffer*>(context);
  for (size_t i = 0; i < size && b->size < sizeof(b->data); ++i) b->data[b->size++] = data[i];
}

void test_random_bytes_never_crash() {
  static uint8_t input[3000];
  for (int round = 0; round < 300; ++round) {
    const size_t size = next_random() % sizeof(input);
    for (size_t i = 0; i < size; ++i) input[i] = static_cast<uint8_t>(next_random());
    LLVMFuzzerTestOneInput(input, size);
  }
  EXPECT_TRUE(true);
}

void test_mutated_valid_frames_never_crash() {
  static uint8_t body[protocol::kMaxFrameBytes];
  Buffer input;
  for (int round = 0; round < 2000; ++round) {
    input.size = 0;
    input.data[input.size++] = static_cast<uint8_t>(next_random() & 3);
    for (int frame = 0; frame < 4; ++frame) {
      const uint8_t type = static_cast<uint8_t>(1 + next_random() % 9);
      const uint16_t length = static_cast<uint16_t>(next_random() % 40);
      for (uint16_t i = 0; i < length; ++i) body[protocol::kHeaderBytes + i] = static_cast<uint8_t>(next_random() % 5);
      const size_t before = input.size;
      protocol::encode_frame(body, {protocol::kVersion, type, static_cast<uint16_t>(round), length}, append, &input);
      if (next_random() % 3 == 0 && input.size > before + 1) {  // damage one byte of the frame
        input.data[before + next_random() % (input.size - before - 1)] = static_cast<uint8_t>(next_random());
      }
    }
    LLVMFuzzerTestOneInput(input.data, input.size);
  }
  EXPECT_TRUE(true);
}

}  // namespace

void test_random_requests_in_valid_frames_never_crash() {
  static uint8_t input[1200];
  for (int round = 0; round < 2000; ++round) {
    size_t size = 0;
    input[size++] = static_cast<uint8_t>(4 | (next_random() & 3));
    const int requests = 1 + static_cast<int>(next_random() % 6);
    for (int r = 0; r < requests; ++r) {
      input[size++] = static_cast<uint8_t>(1 + next_random() % 9);  // type
      input[size++] = static_cast<uint8_t>(next_random());          // seq
      const size_t length = next_random() % 64;
      for (size_t i = 0; i < length; ++i) input[size++] = static_cast<uint8_t>(next_random() % 0xFE);
      input[size++] = 0xFE;
    }
    LLVMFuzzerTestOneInput(input, size);
  }
  EXPECT_TRUE(true);
}

// Staged inputs and checkpoints interleaved: INPUT_CHUNKs and CHECKPOINT_WRITEs at offsets near the
// valid ones (random bytes would almost never hit one), INFER and TRAIN with and without a tensor.
void test_interleaved_stagings_never_crash() {
  static uint8_t input[1600];
  const uint32_t input_offsets[] = {0, 4, 8, 12, 15, 16, 17, 0xFFFFFFF0u};
  const uint32_t checkpoint_offsets[] = {0, 100, 200, 299, 300, 0xFFFFFF00u};
  const uint32_t chunk_sizes[] = {4, 4, 8, 16, 1, 17};
  for (int round = 0; round < 3000; ++round) {
    size_t size = 0;
    input[size++] = static_cast<uint8_t>(4 | (next_random() & 3));
    const int requests = 1 + static_cast<int>(next_random() % 12);
    for (int r = 0; r < requests; ++r) {
      uint8_t payload[120];
      size_t length = 0;
      uint8_t type = 0;
      switch (next_random() % 5) {
        case 0:
        case 1:
          type = static_cast<uint8_t>(protocol::MessageType::kInputChunk);
          protocol::wire::put_u32(payload, input_offsets[next_random() % 8]);
          length = 4 + chunk_sizes[next_random() % 6];
          break;
        case 2:
          type = static_cast<uint8_t>(protocol::MessageType::kCheckpointWrite);
          protocol::wire::put_u32(payload, checkpoint_offsets[next_random() % 6]);
          protocol::wire::put_u32(payload + 4, fakes::kFakeTrainableBytes);
          protocol::wire::put_u32(payload + 8, next_random());
          length = 12 + next_random() % 108;
          break;
        case 3:
          type = static_cast<uint8_t>(protocol::MessageType::kInfer);
          length = next_random() % 2 == 0 ? 0 : fakes::kFakeInputBytes;
          break;
        default:
          type = static_cast<uint8_t>(protocol::MessageType::kTrain);
          length = next_random() % 2 == 0 ? 1 : 1 + fakes::kFakeInputBytes;
          payload[0] = static_cast<uint8_t>(next_random() % 5);
          break;
      }
      const size_t fixed = type == static_cast<uint8_t>(protocol::MessageType::kInputChunk)        ? 4
                           : type == static_cast<uint8_t>(protocol::MessageType::kCheckpointWrite) ? 12
                           : type == static_cast<uint8_t>(protocol::MessageType::kTrain)           ? 1
                                                                                                   : 0;
      for (size_t i = fixed; i < length; ++i) payload[i] = static_cast<uint8_t>(next_random());
      input[size++] = type;
      input[size++] = static_cast<uint8_t>(r);  // seq
      for (size_t i = 0; i < length; ++i) input[size++] = payload[i] == 0xFE ? 0xFD : payload[i];
      input[size++] = 0xFE;
    }
    LLVMFuzzerTestOneInput(input, size);
  }
  EXPECT_TRUE(true);
}

int main() {
  RUN_TEST(test_random_bytes_never_crash);
  RUN_TEST(test_random_requests_in_valid_frames_never_crash);
  RUN_TEST(test_mutated_valid_frames_never_crash);
  RUN_TEST(test_interleaved_stagings_never_crash);
  return unit_test::finish();
}
#endif
