// Unit tests of firmware/lib/protocol: the COBS frame codec and the request server, against the
// fake board link and fake model of fakes.h.
#include <cstdint>
#include <cstring>

#include "../unit_test.h"
#include "crc32.h"
#include "fakes.h"
#include "frame.h"
#include "server.h"
#include "wire.h"

using namespace protocol;

namespace {

// -- helpers: build request frames, collect and decode reply frames -----------------------------

struct Bytes {
  uint8_t data[8192];
  size_t size = 0;
};

void append(const uint8_t* data, size_t size, void* context) {
  Bytes* bytes = static_cast<Bytes*>(context);
  for (size_t i = 0; i < size && bytes->size < sizeof(bytes->data); ++i) bytes->data[bytes->size++] = data[i];
}

/// The encoded frame of (type, seq, payload) in protocol version `version`.
Bytes frame_of(uint8_t type, uint16_t seq, const uint8_t* payload, size_t size, uint8_t version = kVersion) {
  static uint8_t body[kMaxFrameBytes + 64];
  if (size > 0) std::memcpy(body + kHeaderBytes, payload, size);
  Bytes out;
  encode_frame(body, {version, type, seq, static_cast<uint16_t>(size)}, append, &out);
  return out;
}

struct Reply {
  bool ok = false;
  FrameHeader header = {};
  uint8_t payload[kMaxFrameBytes] = {};
  size_t size = 0;
};

/// Decodes the frames the server wrote since the last call; returns the last one.
Reply take_reply(int* count = nullptr) {
  static uint8_t buffer[kMaxFrameBytes];
  FrameDecoder decoder(buffer, sizeof(buffer));
  Reply reply;
  int frames = 0;
  for (size_t i = 0; i < fakes::g_link.out_size; ++i) {
    const FrameResult r = decoder.push(fakes::g_link.out[i]);
    if (r.event == FrameEvent::kFrame) {
      reply.ok = true;
      reply.header = r.header;
      reply.size = r.header.length;
      std::memcpy(reply.payload, r.payload, r.header.length);
      ++frames;
    }
  }
  fakes::g_link.out_size = 0;
  if (count != nullptr) *count = frames;
  return reply;
}

Server& fresh_server(bool model = true) {
  static Server server;
  fakes::reset();
  fakes::g_model.loaded = model;
  const char* why = "";
  server.begin(runtime::init(&why), why);
  return server;
}

Reply call(Server& server, MessageType type, uint16_t seq, const uint8_t* payload = nullptr, size_t size = 0) {
  const Bytes request = frame_of(static_cast<uint8_t>(type), seq, payload, size);
  server.receive(request.data, request.size);
  return take_reply();
}

uint8_t error_of(const Reply& reply) {
  return reply.header.type == static_cast<uint8_t>(MessageType::kError) ? reply.payload[0] : 0;
}

constexpr uint8_t E(ErrorCode code) { return static_cast<uint8_t>(code); }

/// True when an ERROR reply's reason text contains `word`.
bool reason_has(const Reply& reply, const char* word) {
  char text[kMaxReasonBytes + 1] = {};
  const size_t n = reply.size > kErrorReplyFixedBytes ? reply.size - kErrorReplyFixedBytes : 0;
  std::memcpy(text, reply.payload + kErrorReplyFixedBytes, n < kMaxReasonBytes ? n : kMaxReasonBytes);
  return std::strstr(text, word) != nullptr;
}

/// INPUT_CHUNK of input[offset, offset + size).
Reply input_chunk(Server& server, uint16_t seq, const int8_t* input, uint32_t offset, uint32_t size) {
  uint8_t request[kInputChunkFixedBytes + fakes::kFakeInputBytes + 8];
  wire::put_u32(request, offset);
  std::memcpy(request + kInputChunkFixedBytes, input + offset, size);
  return call(server, MessageType::kInputChunk, seq, request, kInputChunkFixedBytes + size);
}

/// The whole input in chunks of 5, 7 and 4 bytes (seq, seq + 1, seq + 2); the last reply.
Reply stage_input(Server& server, uint16_t seq, const int8_t* input) {
  input_chunk(server, seq, input, 0, 5);
  input_chunk(server, static_cast<uint16_t>(seq + 1), input, 5, 7);
  return input_chunk(server, static_cast<uint16_t>(seq + 2), input, 12, 4);
}

/// The first `size` bytes of a checkpoint for the fake model (its bytes: 255 - i).
Reply checkpoint_chunk(Server& server, uint16_t seq, uint32_t offset, uint32_t size) {
  static uint8_t checkpoint[fakes::kFakeTrainableBytes];
  for (uint32_t i = 0; i < sizeof(checkpoint); ++i) checkpoint[i] = static_cast<uint8_t>(255 - i);
  uint8_t request[kCheckpointWriteFixedBytes + fakes::kFakeTrainableBytes];
  wire::put_u32(request, offset);
  wire::put_u32(request + 4, sizeof(checkpoint));
  wire::put_u32(request + 8, mcu::crc32(checkpoint, sizeof(checkpoint)));
  std::memcpy(request + kCheckpointWriteFixedBytes, checkpoint + offset, size);
  return call(server, MessageType::kCheckpointWrite, seq, request, kCheckpointWriteFixedBytes + size);
}

// -- codec ----------------------------------------------------------------------------------

void test_cobs_decodes_reference_vectors() {
  // COBS examples (Cheshire & Baker): 11 22 00 33 -> 03 11 22 02 33; a frame body is decoded
  // and its size counted even when it is not a valid protocol frame.
  uint8_t buffer[16];
  FrameDecoder decoder(buffer, sizeof(buffer));
  const uint8_t encoded[] = {0x03, 0x11, 0x22, 0x02, 0x33, 0x00};
  FrameResult r = {};
  for (uint8_t b : encoded) r = decoder.push(b);
  EXPECT_TRUE(r.event == FrameEvent::kError);  // 4 bytes: shorter than header + CRC
  EXPECT_EQ_U32(E(ErrorCode::kTruncated), E(r.error));
  EXPECT_TRUE(buffer[0] == 0x11 && buffer[1] == 0x22 && buffer[2] == 0x00 && buffer[3] == 0x33);
}

void test_frames_round_trip_across_block_boundaries() {
  static uint8_t payload[1200];
  static uint8_t buffer[kMaxFrameBytes];
  const size_t sizes[] = {0, 1, 243, 244, 245, 248, 254, 255, 500, 508, 509, 1200};
  for (size_t size : sizes) {
    for (int pattern = 0; pattern < 3; ++pattern) {
      for (size_t i = 0; i < size; ++i) {
        payload[i] = pattern == 0 ? 0 : pattern == 1 ? static_cast<uint8_t>(1 + i % 255) : static_cast<uint8_t>(i * 31);
      }
      const Bytes wire = frame_of(0x42, static_cast<uint16_t>(size), payload, size);
      EXPECT_TRUE(wire.size <= encoded_size_bound(kHeaderBytes + size + kCrcBytes));
      for (size_t i = 0; i + 1 < wire.size; ++i) EXPECT_TRUE(wire.data[i] != 0);
      FrameDecoder decoder(buffer, sizeof(buffer));
      FrameResult r = {};
      for (size_t i = 0; i < wire.size; ++i) r = decoder.push(wire.data[i]);
      EXPECT_TRUE(r.event == FrameEvent::kFrame);
      EXPECT_EQ_U32(0x42u, r.header.type);
      EXPECT_EQ_U32(size, r.header.length);
      EXPECT_TRUE(size == 0 || std::memcmp(payload, r.payload, size) == 0);
    }
  }
}

void test_decoder_reports_bad_crc_and_resyncs() {
  static uint8_t buffer[kMaxFrameBytes];
  FrameDecoder decoder(buffer, sizeof(buffer));
  const uint8_t payload[] = {1, 2, 3};
  Bytes bad = frame_of(1, 77, payload, 3);
  bad.data[8] ^= 0x01;  // a payload or CRC byte (never the delimiter)
  if (bad.data[8] == 0) bad.data[8] = 0x55;
  FrameResult r = {};
  for (size_t i = 0; i < bad.size; ++i) r = decoder.push(bad.data[i]);
  EXPECT_TRUE(r.event == FrameEvent::kError);
  EXPECT_TRUE(r.error == ErrorCode::kBadCrc || r.error == ErrorCode::kTruncated);
  const Bytes good = frame_of(1, 78, payload, 3);
  for (size_t i = 0; i < good.size; ++i) r = decoder.push(good.data[i]);
  EXPECT_TRUE(r.event == FrameEvent::kFrame);
  EXPECT_EQ_U32(78u, r.header.seq);
}

void test_decoder_flags_oversize_then_accepts_next_frame() {
  uint8_t buffer[32];
  FrameDecoder decoder(buffer, sizeof(buffer));
  static uint8_t payload[100];
  std::memset(payload, 0xAB, sizeof(payload));
  const Bytes big = frame_of(3, 9, payload, sizeof(payload));
  FrameResult r = {};
  for (size_t i = 0; i < big.size; ++i) r = decoder.push(big.data[i]);
  EXPECT_TRUE(r.event == FrameEvent::kError);
  EXPECT_EQ_U32(E(ErrorCode::kOversize), E(r.error));
  EXPECT_TRUE(r.header_known);
  EXPECT_EQ_U32(9u, r.header.seq);
  const Bytes small = frame_of(3, 10, payload, 8);
  for (size_t i = 0; i < small.size; ++i) r = decoder.push(small.data[i]);
  EXPECT_TRUE(r.event == FrameEvent::kFrame);
}

void test_decoder_ignores_empty_frames_and_expires_partial_ones() {
  uint8_t buffer[64];
  FrameDecoder decoder(buffer, sizeof(buffer));
  EXPECT_TRUE(decoder.push(0).event == FrameEvent::kNone);
  EXPECT_TRUE(decoder.push(0).event == FrameEvent::kNone);
  EXPECT_TRUE(decoder.expire().event == FrameEvent::kNone);
  const Bytes good = frame_of(1, 5, nullptr, 0);
  for (size_t i = 0; i + 1 < good.size; ++i) decoder.push(good.data[i]);  // all but the delimiter
  EXPECT_TRUE(decoder.in_frame());
  const FrameResult r = decoder.expire();
  EXPECT_TRUE(r.event == FrameEvent::kError);
  EXPECT_EQ_U32(E(ErrorCode::kTimeout), E(r.error));
  EXPECT_EQ_U32(5u, r.header.seq);
  EXPECT_TRUE(!decoder.in_frame());
}

// -- server ---------------------------------------------------------------------------------

void test_info_reports_model_and_limits() {
  Server& server = fresh_server();
  const Reply reply = call(server, MessageType::kInfo, 1);
  EXPECT_TRUE(reply.ok);
  EXPECT_EQ_U32(0x81u, reply.header.type);
  EXPECT_EQ_U32(1u, reply.header.seq);
  EXPECT_EQ_U32(kVersion, reply.payload[0]);
  EXPECT_EQ_U32(0u, reply.payload[1]);  // model ok
  EXPECT_EQ_U32(kMaxPayload, wire::get_u16(reply.payload + 2));
  EXPECT_EQ_U32(0x12345678u, wire::get_u32(reply.payload + 4));
  EXPECT_EQ_U32(fakes::kFakeInputBytes, wire::get_u32(reply.payload + 28));
  EXPECT_EQ_U32(fakes::kFakeTrainableBytes, wire::get_u32(reply.payload + 36));
}

void test_info_answers_without_a_model() {
  Server& server = fresh_server(false);
  Reply reply = call(server, MessageType::kInfo, 2);
  EXPECT_TRUE(reply.ok);
  EXPECT_EQ_U32(1u, reply.payload[1]);  // kNoModel
  const uint8_t input[fakes::kFakeInputBytes] = {};
  reply = call(server, MessageType::kInfer, 3, input, sizeof(input));
  EXPECT_EQ_U32(E(ErrorCode::kNoModel), error_of(reply));
  EXPECT_EQ_U32(3u, reply.header.seq);
}

void test_infer_returns_logits_and_prediction() {
  Server& server = fresh_server();
  int8_t input[fakes::kFakeInputBytes] = {};
  input[2] = 50;
  const Reply reply = call(server, MessageType::kInfer, 4, reinterpret_cast<uint8_t*>(input), sizeof(input));
  EXPECT_EQ_U32(0x83u, reply.header.type);
  EXPECT_EQ_U32(2u, reply.payload[0]);
  EXPECT_EQ_U32(fakes::kFakeClasses, wire::get_u16(reply.payload + 2));
  EXPECT_TRUE(wire::get_u32(reply.payload + 4) > 0);  // ticks
  EXPECT_EQ_U32(52u, static_cast<uint8_t>(reply.payload[kInferReplyFixedBytes + 2]));
}

void test_bad_requests_get_errors_and_change_nothing() {
  Server& server = fresh_server();
  uint8_t input[fakes::kFakeInputBytes + 1] = {};
  EXPECT_EQ_U32(E(ErrorCode::kBadLength), error_of(call(server, MessageType::kInfer, 5, input, 3)));
  input[0] = fakes::kFakeClasses;  // label out of range
  EXPECT_EQ_U32(E(ErrorCode::kBadLabel), error_of(call(server, MessageType::kTrain, 6, input, sizeof(input))));
  EXPECT_EQ_U32(E(ErrorCode::kUnknownType), error_of(call(server, static_cast<MessageType>(0x33), 7)));
  EXPECT_EQ_U32(E(ErrorCode::kBadLength), error_of(call(server, MessageType::kInfo, 8, input, 1)));
  const Bytes old_version = frame_of(1, 9, nullptr, 0, kVersion + 1);
  server.receive(old_version.data, old_version.size);
  EXPECT_EQ_U32(E(ErrorCode::kBadVersion), error_of(take_reply()));
  EXPECT_EQ_U32(0u, fakes::g_model.train_calls);
  EXPECT_EQ_U32(fakes::flashed_param(0), fakes::g_model.params[0]);
  EXPECT_EQ_U32(2u, server.counters().errors[E(ErrorCode::kBadLength)]);
  EXPECT_EQ_U32(1u, server.counters().errors[E(ErrorCode::kBadLabel)]);
  EXPECT_EQ_U32(1u, server.counters().errors[E(ErrorCode::kUnknownType)]);
  EXPECT_EQ_U32(1u, server.counters().errors[E(ErrorCode::kBadVersion)]);
}

void test_set_config_checks_every_field() {
  Server& server = fresh_server();
  uint8_t config[kSetConfigBytes];
  wire::put_f32(config, 0.05f);
  config[4] = 1;
  wire::put_u32(config + 5, 42);
  Reply reply = call(server, MessageType::kSetConfig, 10, config, sizeof(config));
  EXPECT_EQ_U32(0x82u, reply.header.type);
  EXPECT_EQ_U32(42u, server.config().seed);
  EXPECT_EQ_U32(1u, server.config().gradient_filter);
  const float bad_rates[] = {0.0f, -1.0f, 2.0f, __builtin_nanf(""), __builtin_inff()};
  uint16_t seq = 11;
  for (float rate : bad_rates) {
    wire::put_f32(config, rate);
    EXPECT_EQ_U32(E(ErrorCode::kBadValue), error_of(call(server, MessageType::kSetConfig, seq++, config, sizeof(config))));
  }
  wire::put_f32(config, 0.1f);
  config[4] = 2;
  EXPECT_EQ_U32(E(ErrorCode::kBadValue), error_of(call(server, MessageType::kSetConfig, seq++, config, sizeof(config))));
  config[4] = 0;
  wire::put_u32(config + 5, 0);
  EXPECT_EQ_U32(E(ErrorCode::kBadValue), error_of(call(server, MessageType::kSetConfig, seq++, config, sizeof(config))));
  EXPECT_EQ_U32(42u, server.config().seed);  // unchanged by the refused ones
}

void test_retried_train_is_answered_from_cache_not_executed_twice() {
  Server& server = fresh_server();
  uint8_t request[1 + fakes::kFakeInputBytes] = {1};
  const Bytes wire_request = frame_of(static_cast<uint8_t>(MessageType::kTrain), 20, request, sizeof(request));
  server.receive(wire_request.data, wire_request.size);
  const Reply first = take_reply();
  server.receive(wire_request.data, wire_request.size);
  const Reply second = take_reply();
  EXPECT_EQ_U32(0x84u, first.header.type);
  EXPECT_EQ_U32(1u, fakes::g_model.train_calls);
  EXPECT_EQ_U32(1u, server.counters().samples_trained);
  EXPECT_EQ_U32(1u, server.counters().retries_answered);
  EXPECT_EQ_U32(first.size, second.size);
  EXPECT_TRUE(std::memcmp(first.payload, second.payload, first.size) == 0);
  // The same seq with other content is a new request.
  request[0] = 2;
  call(server, MessageType::kTrain, 20, request, sizeof(request));
  EXPECT_EQ_U32(2u, fakes::g_model.train_calls);
}

void test_link_errors_are_answered_but_not_cached() {
  Server& server = fresh_server();
  Bytes bad = frame_of(static_cast<uint8_t>(MessageType::kStats), 30, nullptr, 0);
  bad.data[bad.size - 2] = static_cast<uint8_t>(bad.data[bad.size - 2] == 0x01 ? 0x02 : 0x01);  // a CRC byte
  server.receive(bad.data, bad.size);
  const Reply error = take_reply();
  EXPECT_TRUE(error_of(error) == E(ErrorCode::kBadCrc) || error_of(error) == E(ErrorCode::kTruncated));
  EXPECT_EQ_U32(30u, error.header.seq);
  const Reply good = call(server, MessageType::kStats, 30);  // the resend executes
  EXPECT_EQ_U32(0x85u, good.header.type);
  EXPECT_EQ_U32(0u, server.counters().retries_answered);
}

void test_stalled_partial_frame_times_out() {
  Server& server = fresh_server();
  const Bytes request = frame_of(static_cast<uint8_t>(MessageType::kInfo), 40, nullptr, 0);
  server.receive(request.data, request.size - 3);
  server.poll();
  EXPECT_EQ_U32(0u, fakes::g_link.out_size);  // not yet
  fakes::g_link.now_ns += (kStallTimeoutMs + 1) * 1000000ull;
  server.poll();
  const Reply reply = take_reply();
  EXPECT_EQ_U32(E(ErrorCode::kTimeout), error_of(reply));
  EXPECT_EQ_U32(40u, reply.header.seq);
  EXPECT_EQ_U32(0x81u, call(server, MessageType::kInfo, 41).header.type);
}

void test_checkpoint_round_trip_and_atomic_write() {
  Server& server = fresh_server();
  uint8_t request[kCheckpointWriteFixedBytes + 200];
  uint8_t checkpoint[fakes::kFakeTrainableBytes];
  for (uint32_t i = 0; i < sizeof(checkpoint); ++i) checkpoint[i] = static_cast<uint8_t>(255 - i);
  const uint32_t crc = mcu::crc32(checkpoint, sizeof(checkpoint));
  auto chunk = [&](uint16_t seq, uint32_t offset, uint32_t size, uint32_t announced_crc) {
    wire::put_u32(request, offset);
    wire::put_u32(request + 4, sizeof(checkpoint));
    wire::put_u32(request + 8, announced_crc);
    std::memcpy(request + kCheckpointWriteFixedBytes, checkpoint + offset, size);
    return call(server, MessageType::kCheckpointWrite, seq, request, kCheckpointWriteFixedBytes + size);
  };
  // Interrupted after the first chunk: nothing applied.
  Reply reply = chunk(50, 0, 200, crc);
  EXPECT_EQ_U32(200u, wire::get_u32(reply.payload));
  EXPECT_EQ_U32(0u, reply.payload[4]);
  EXPECT_EQ_U32(fakes::flashed_param(0), fakes::g_model.params[0]);
  // Out of order.
  EXPECT_EQ_U32(E(ErrorCode::kBadSequence), error_of(chunk(51, 250, 50, crc)));
  // Complete but announced with the wrong CRC: refused, old parameters kept.
  chunk(52, 0, 200, crc ^ 1);
  EXPECT_EQ_U32(E(ErrorCode::kBadChecksum), error_of(chunk(53, 200, 100, crc ^ 1)));
  EXPECT_EQ_U32(fakes::flashed_param(0), fakes::g_model.params[0]);
  // Complete and valid: applied.
  chunk(54, 0, 200, crc);
  reply = chunk(55, 200, 100, crc);
  EXPECT_EQ_U32(1u, reply.payload[4]);
  EXPECT_TRUE(std::memcmp(fakes::g_model.params, checkpoint, sizeof(checkpoint)) == 0);
  // Read back in two chunks.
  uint8_t read_request[kCheckpointReadRequestBytes];
  wire::put_u32(read_request, 0);
  wire::put_u16(read_request + 4, 256);
  reply = call(server, MessageType::kCheckpointRead, 56, read_request, sizeof(read_request));
  EXPECT_EQ_U32(sizeof(checkpoint), wire::get_u32(reply.payload));
  EXPECT_EQ_U32(crc, wire::get_u32(reply.payload + 4));
  EXPECT_EQ_U32(kCheckpointReadReplyFixedBytes + 256, reply.size);
  wire::put_u32(read_request, 256);
  reply = call(server, MessageType::kCheckpointRead, 57, read_request, sizeof(read_request));
  EXPECT_EQ_U32(kCheckpointReadReplyFixedBytes + 44, reply.size);
  EXPECT_TRUE(std::memcmp(reply.payload + kCheckpointReadReplyFixedBytes, checkpoint + 256, 44) == 0);
  // RESET_PARAMS restores the flashed values.
  reply = call(server, MessageType::kResetParams, 58);
  EXPECT_EQ_U32(0x88u, reply.header.type);
  EXPECT_EQ_U32(fakes::flashed_param(5), fakes::g_model.params[5]);
}

void test_stats_count_training_and_errors() {
  Server& server = fresh_server();
  uint8_t request[1 + fakes::kFakeInputBytes] = {};
  request[0] = 0;
  request[1] = 0;  // predicted = input[0] & 3 = 0: correct
  call(server, MessageType::kTrain, 60, request, sizeof(request));
  request[0] = 1;
  call(server, MessageType::kTrain, 61, request, sizeof(request));
  call(server, MessageType::kTrain, 62, request, 3);
  const Reply reply = call(server, MessageType::kStats, 63);
  EXPECT_EQ_U32(2u, wire::get_u32(reply.payload));      // trained
  EXPECT_EQ_U32(1u, wire::get_u32(reply.payload + 4));  // correct
  EXPECT_EQ_U32(65536u, wire::get_u32(reply.payload + 8));  // 2 x 0.5 in 16.16
  EXPECT_EQ_U32(kErrorCodeCount, reply.payload[32]);
  EXPECT_EQ_U32(1u, wire::get_u32(reply.payload + 33 + 4 * E(ErrorCode::kBadLength)));
}

void test_train_and_infer_are_refused_while_a_checkpoint_is_staged() {
  Server& server = fresh_server();
  uint8_t request[kCheckpointWriteFixedBytes + 100] = {};
  wire::put_u32(request, 0);
  wire::put_u32(request + 4, fakes::kFakeTrainableBytes);
  call(server, MessageType::kCheckpointWrite, 80, request, sizeof(request));  // the first chunk only
  uint8_t sample[1 + fakes::kFakeInputBytes] = {};
  EXPECT_EQ_U32(E(ErrorCode::kBadSequence), error_of(call(server, MessageType::kTrain, 81, sample, sizeof(sample))));
  EXPECT_EQ_U32(E(ErrorCode::kBadSequence),
                error_of(call(server, MessageType::kInfer, 82, sample + 1, fakes::kFakeInputBytes)));
  EXPECT_EQ_U32(0u, server.counters().samples_trained);
  EXPECT_EQ_U32(fakes::flashed_param(0), fakes::g_model.params[0]);
  call(server, MessageType::kResetParams, 83);  // ends the staging
  EXPECT_EQ_U32(E(ErrorCode::kNone), error_of(call(server, MessageType::kTrain, 84, sample, sizeof(sample))));
}

void test_training_not_in_this_build_is_reported() {
  Server& server = fresh_server();
  fakes::g_model.training = false;
  uint8_t request[1 + fakes::kFakeInputBytes] = {};
  const Reply reply = call(server, MessageType::kTrain, 70, request, sizeof(request));
  EXPECT_EQ_U32(E(ErrorCode::kNotInThisBuild), error_of(reply));
  EXPECT_EQ_U32(0u, server.counters().samples_trained);
}

// -- inputs staged in chunks (INPUT_CHUNK) -------------------------------------------------------

void test_chunked_input_gives_the_logits_of_a_one_frame_infer() {
  Server& server = fresh_server();
  int8_t input[fakes::kFakeInputBytes];
  for (uint32_t i = 0; i < sizeof(input); ++i) input[i] = static_cast<int8_t>(i * 9 - 60);
  const Reply whole = call(server, MessageType::kInfer, 100, reinterpret_cast<uint8_t*>(input), sizeof(input));
  Reply reply = input_chunk(server, 101, input, 0, 5);
  EXPECT_EQ_U32(0x89u, reply.header.type);
  EXPECT_EQ_U32(kInputChunkReplyBytes, reply.size);
  EXPECT_EQ_U32(5u, wire::get_u32(reply.payload));
  EXPECT_EQ_U32(0u, reply.payload[4]);  // not complete, nothing abandoned
  EXPECT_TRUE(server.staging() == Staging::kInput);
  reply = input_chunk(server, 102, input, 5, 7);
  EXPECT_EQ_U32(12u, wire::get_u32(reply.payload));
  reply = input_chunk(server, 103, input, 12, 4);
  EXPECT_EQ_U32(16u, wire::get_u32(reply.payload));
  EXPECT_EQ_U32(kInputComplete, reply.payload[4]);
  const Reply staged = call(server, MessageType::kInfer, 104);
  EXPECT_EQ_U32(0x83u, staged.header.type);
  EXPECT_EQ_U32(whole.size, staged.size);
  EXPECT_TRUE(std::memcmp(whole.payload, staged.payload, 4) == 0);  // predicted, count (ticks differ)
  EXPECT_TRUE(std::memcmp(whole.payload + kInferReplyFixedBytes, staged.payload + kInferReplyFixedBytes,
                          fakes::kFakeClasses) == 0);
  EXPECT_EQ_U32(2u, server.counters().samples_inferred);
  EXPECT_TRUE(server.staging() == Staging::kNone);
}

void test_a_staged_input_is_used_once() {
  Server& server = fresh_server();
  int8_t input[fakes::kFakeInputBytes] = {3};
  stage_input(server, 110, input);
  EXPECT_EQ_U32(0x83u, call(server, MessageType::kInfer, 113).header.type);
  const Reply again = call(server, MessageType::kInfer, 114);
  EXPECT_EQ_U32(E(ErrorCode::kBadSequence), error_of(again));
  EXPECT_TRUE(reason_has(again, "used by the last"));
  uint8_t label = 1;
  EXPECT_EQ_U32(E(ErrorCode::kBadSequence), error_of(call(server, MessageType::kTrain, 115, &label, 1)));
  EXPECT_EQ_U32(1u, fakes::g_model.infer_calls);
  EXPECT_EQ_U32(0u, fakes::g_model.train_calls);
}

void test_chunked_input_reaches_train_and_a_refused_train_keeps_it() {
  Server& server = fresh_server();
  int8_t input[fakes::kFakeInputBytes] = {};
  input[0] = 2;  // the fake predicts input[0] & 3
  stage_input(server, 120, input);
  uint8_t label = fakes::kFakeClasses;  // out of range: refused, the staged input stays
  EXPECT_EQ_U32(E(ErrorCode::kBadLabel), error_of(call(server, MessageType::kTrain, 123, &label, 1)));
  EXPECT_TRUE(server.staging() == Staging::kInput);
  fakes::g_model.training = false;  // not in this build: refused before touching the arena
  label = 2;
  EXPECT_EQ_U32(E(ErrorCode::kNotInThisBuild), error_of(call(server, MessageType::kTrain, 124, &label, 1)));
  fakes::g_model.training = true;
  const Reply reply = call(server, MessageType::kTrain, 125, &label, 1);
  EXPECT_EQ_U32(0x84u, reply.header.type);
  EXPECT_EQ_U32(2u, reply.payload[4]);  // predicted from the staged input
  EXPECT_EQ_U32(1u, reply.payload[5]);  // correct
  EXPECT_EQ_U32(1u, fakes::g_model.train_calls);
  EXPECT_EQ_U32(E(ErrorCode::kBadSequence), error_of(call(server, MessageType::kTrain, 126, &label, 1)));
}

void test_incomplete_or_out_of_order_chunks_are_refused_and_change_nothing() {
  Server& server = fresh_server();
  int8_t input[fakes::kFakeInputBytes + 8] = {};
  Reply reply = call(server, MessageType::kInfer, 130);
  EXPECT_EQ_U32(E(ErrorCode::kBadSequence), error_of(reply));
  EXPECT_TRUE(reason_has(reply, "no input staged"));
  EXPECT_EQ_U32(E(ErrorCode::kBadSequence), error_of(input_chunk(server, 131, input, 4, 4)));  // not from 0
  EXPECT_TRUE(server.staging() == Staging::kNone);
  input_chunk(server, 132, input, 0, 8);
  EXPECT_EQ_U32(E(ErrorCode::kBadSequence), error_of(input_chunk(server, 133, input, 10, 4)));  // a gap
  EXPECT_EQ_U32(E(ErrorCode::kBadSequence), error_of(input_chunk(server, 134, input, 4, 4)));   // an overlap
  EXPECT_EQ_U32(E(ErrorCode::kBadLength), error_of(input_chunk(server, 135, input, 8, 9)));     // past the end
  EXPECT_EQ_U32(E(ErrorCode::kBadLength), error_of(input_chunk(server, 136, input, 8, 0)));     // no data
  EXPECT_EQ_U32(E(ErrorCode::kBadLength), error_of(input_chunk(server, 137, input, 0, 17)));    // past the end
  uint8_t short_payload[3] = {};
  EXPECT_EQ_U32(E(ErrorCode::kBadLength), error_of(call(server, MessageType::kInputChunk, 138, short_payload, 3)));
  EXPECT_TRUE(server.staging() == Staging::kInput);
  EXPECT_EQ_U32(8u, server.staged_bytes());  // none of the refused chunks changed the staging
  reply = call(server, MessageType::kInfer, 139);
  EXPECT_EQ_U32(E(ErrorCode::kBadSequence), error_of(reply));
  EXPECT_TRUE(reason_has(reply, "incomplete"));
  EXPECT_EQ_U32(0u, fakes::g_model.infer_calls);
  EXPECT_EQ_U32(16u, wire::get_u32(input_chunk(server, 140, input, 8, 8).payload));  // the refusals changed nothing
  // An offset-0 chunk starts a new input, complete or not.
  EXPECT_EQ_U32(4u, wire::get_u32(input_chunk(server, 141, input, 0, 4).payload));
}

void test_a_one_frame_infer_overwrites_a_staged_input() {
  Server& server = fresh_server();
  int8_t input[fakes::kFakeInputBytes] = {};
  stage_input(server, 150, input);
  EXPECT_EQ_U32(0x83u,
                call(server, MessageType::kInfer, 153, reinterpret_cast<uint8_t*>(input), sizeof(input)).header.type);
  const Reply reply = call(server, MessageType::kInfer, 154);
  EXPECT_EQ_U32(E(ErrorCode::kBadSequence), error_of(reply));
  EXPECT_TRUE(reason_has(reply, "overwritten"));
}

void test_a_checkpoint_write_abandons_a_staged_input_and_says_so() {
  Server& server = fresh_server();
  int8_t input[fakes::kFakeInputBytes] = {};
  stage_input(server, 160, input);
  Reply reply = checkpoint_chunk(server, 163, 0, 200);
  EXPECT_EQ_U32(0x87u, reply.header.type);
  EXPECT_EQ_U32(kAbandonedOtherStaging, reply.payload[4]);  // abandoned, not applied
  EXPECT_TRUE(server.staging() == Staging::kCheckpoint);
  reply = call(server, MessageType::kInfer, 164);
  EXPECT_EQ_U32(E(ErrorCode::kBadSequence), error_of(reply));
  EXPECT_TRUE(reason_has(reply, "CHECKPOINT_WRITE"));
  EXPECT_EQ_U32(E(ErrorCode::kBadSequence), error_of(input_chunk(server, 165, input, 5, 7)));
  // The checkpoint's last bytes land where the input tensor was: applied whole.
  reply = checkpoint_chunk(server, 166, 200, 100);
  EXPECT_EQ_U32(kCheckpointApplied, reply.payload[4]);
  for (uint32_t i = 0; i < fakes::kFakeTrainableBytes; ++i) {
    EXPECT_EQ_U32(static_cast<uint8_t>(255 - i), fakes::g_model.params[i]);
  }
  EXPECT_EQ_U32(0u, fakes::g_model.infer_calls);
}

void test_an_input_chunk_abandons_a_staged_checkpoint_and_says_so() {
  Server& server = fresh_server();
  checkpoint_chunk(server, 170, 0, 200);
  int8_t input[fakes::kFakeInputBytes];
  for (uint32_t i = 0; i < sizeof(input); ++i) input[i] = static_cast<int8_t>(40 - i);
  Reply reply = input_chunk(server, 171, input, 0, 16);
  EXPECT_EQ_U32(kInputComplete | kAbandonedOtherStaging, reply.payload[4]);
  EXPECT_TRUE(server.staging() == Staging::kInput);
  // The rest of the abandoned checkpoint is refused, and would have overwritten the input.
  reply = checkpoint_chunk(server, 172, 200, 100);
  EXPECT_EQ_U32(E(ErrorCode::kBadSequence), error_of(reply));
  EXPECT_TRUE(reason_has(reply, "abandoned"));
  for (uint32_t i = 0; i < fakes::kFakeTrainableBytes; ++i) {
    EXPECT_EQ_U32(fakes::flashed_param(i), fakes::g_model.params[i]);
  }
  reply = call(server, MessageType::kInfer, 173);
  EXPECT_EQ_U32(0x83u, reply.header.type);
  EXPECT_EQ_U32(40u, static_cast<uint8_t>(reply.payload[kInferReplyFixedBytes]));      // input[0] + 0
  EXPECT_EQ_U32(40u, static_cast<uint8_t>(reply.payload[kInferReplyFixedBytes + 3]));  // input[3] + 3
}

void test_reset_params_leaves_a_staged_input() {
  Server& server = fresh_server();
  int8_t input[fakes::kFakeInputBytes] = {};
  stage_input(server, 180, input);
  call(server, MessageType::kResetParams, 183);
  call(server, MessageType::kStats, 184);
  EXPECT_EQ_U32(0x83u, call(server, MessageType::kInfer, 185).header.type);
}

void test_retried_chunks_and_staged_steps_are_answered_from_the_cache() {
  Server& server = fresh_server();
  int8_t input[fakes::kFakeInputBytes] = {};
  uint8_t request[kInputChunkFixedBytes + 8] = {};
  const Bytes first = frame_of(static_cast<uint8_t>(MessageType::kInputChunk), 190, request, sizeof(request));
  server.receive(first.data, first.size);
  take_reply();
  input_chunk(server, 191, input, 8, 8);
  // A pipelining host's retry of the chunk before the last: from the cache, the staging is not
  // restarted.
  server.receive(first.data, first.size);
  EXPECT_EQ_U32(8u, wire::get_u32(take_reply().payload));
  EXPECT_EQ_U32(16u, server.staged_bytes());
  EXPECT_EQ_U32(1u, server.counters().retries_answered);
  const uint8_t label = 0;
  const Bytes train = frame_of(static_cast<uint8_t>(MessageType::kTrain), 192, &label, 1);
  server.receive(train.data, train.size);
  const Reply trained = take_reply();
  server.receive(train.data, train.size);  // its reply was lost: the retry does not find the input gone
  const Reply retried = take_reply();
  EXPECT_EQ_U32(0x84u, retried.header.type);
  EXPECT_TRUE(trained.size == retried.size && std::memcmp(trained.payload, retried.payload, trained.size) == 0);
  EXPECT_EQ_U32(1u, fakes::g_model.train_calls);
}

}  // namespace

int main() {
  RUN_TEST(test_cobs_decodes_reference_vectors);
  RUN_TEST(test_frames_round_trip_across_block_boundaries);
  RUN_TEST(test_decoder_reports_bad_crc_and_resyncs);
  RUN_TEST(test_decoder_flags_oversize_then_accepts_next_frame);
  RUN_TEST(test_decoder_ignores_empty_frames_and_expires_partial_ones);
  RUN_TEST(test_info_reports_model_and_limits);
  RUN_TEST(test_info_answers_without_a_model);
  RUN_TEST(test_infer_returns_logits_and_prediction);
  RUN_TEST(test_bad_requests_get_errors_and_change_nothing);
  RUN_TEST(test_set_config_checks_every_field);
  RUN_TEST(test_retried_train_is_answered_from_cache_not_executed_twice);
  RUN_TEST(test_link_errors_are_answered_but_not_cached);
  RUN_TEST(test_stalled_partial_frame_times_out);
  RUN_TEST(test_checkpoint_round_trip_and_atomic_write);
  RUN_TEST(test_train_and_infer_are_refused_while_a_checkpoint_is_staged);
  RUN_TEST(test_stats_count_training_and_errors);
  RUN_TEST(test_training_not_in_this_build_is_reported);
  RUN_TEST(test_chunked_input_gives_the_logits_of_a_one_frame_infer);
  RUN_TEST(test_a_staged_input_is_used_once);
  RUN_TEST(test_chunked_input_reaches_train_and_a_refused_train_keeps_it);
  RUN_TEST(test_incomplete_or_out_of_order_chunks_are_refused_and_change_nothing);
  RUN_TEST(test_a_one_frame_infer_overwrites_a_staged_input);
  RUN_TEST(test_a_checkpoint_write_abandons_a_staged_input_and_says_so);
  RUN_TEST(test_an_input_chunk_abandons_a_staged_checkpoint_and_says_so);
  RUN_TEST(test_reset_params_leaves_a_staged_input);
  RUN_TEST(test_retried_chunks_and_staged_steps_are_answered_from_the_cache);
  return unit_test::finish();
}
