#include "server.h"

#include <cmath>
#include <cstring>

#include "board.h"
#include "crc32.h"
#include "wire.h"

#ifndef MCUTRAIN_FW_VERSION
#define MCUTRAIN_FW_VERSION "unknown"
#endif

namespace protocol {

namespace {

void write_to_board(const uint8_t* data, size_t size, void*) { board::write(data, size); }

ErrorCode error_for(runtime::Status status) {
  switch (status) {
    case runtime::Status::kOk: return ErrorCode::kNone;
    case runtime::Status::kNoModel: return ErrorCode::kNoModel;
    case runtime::Status::kBadInputSize: return ErrorCode::kBadLength;
    case runtime::Status::kBadLabel: return ErrorCode::kBadLabel;
    case runtime::Status::kNotInThisBuild: return ErrorCode::kNotInThisBuild;
    case runtime::Status::kInternal: break;
  }
  return ErrorCode::kInternal;
}

bool model_ready(runtime::Status status) { return status == runtime::Status::kOk; }

// Why no complete input is staged (ERROR reasons of an INFER or TRAIN without a tensor).
constexpr const char* kNoInputStaged = "no input staged: send INPUT_CHUNKs from offset 0";
constexpr const char* kInputIncomplete = "staged input incomplete: send its remaining INPUT_CHUNKs";
constexpr const char* kInputUsed = "staged input used by the last INFER/TRAIN: stage it again";
constexpr const char* kInputOverwritten = "staged input overwritten by an INFER/TRAIN with a tensor";
constexpr const char* kInputAbandoned = "staged input abandoned by a CHECKPOINT_WRITE: stage it again";
constexpr const char* kCheckpointStaged = "a checkpoint write is staged: finish it or restart it";

/// Ticks of board::counter() between two readings, saturated to 32 bits.
uint32_t ticks_since(uint64_t start) {
  const uint64_t ticks = board::counter() - start;
  return ticks > 0xFFFFFFFFull ? 0xFFFFFFFFu : static_cast<uint32_t>(ticks);
}

}  // namespace

void Server::begin(runtime::Status model_status, const char* model_why) {
  model_status_ = model_status;
  model_why_ = model_why != nullptr ? model_why : "";
  config_ = {0.01f, 0u, 1u};
  counters_ = {};
  decoder_.expire();
  have_last_ = false;
  have_previous_ = false;
  staging_ = Staging::kNone;
  staged_bytes_ = 0;
  unstaged_why_ = kNoInputStaged;
  last_byte_ms_ = now_ms();
}

uint32_t Server::now_ms() const {
  const uint32_t per_ms = board::info().counter_hz / 1000u;
  return static_cast<uint32_t>(board::counter() / (per_ms == 0 ? 1u : per_ms));
}

void Server::receive(const uint8_t* data, size_t size) {
  if (size == 0) return;
  last_byte_ms_ = now_ms();
  for (size_t i = 0; i < size; ++i) {
    const FrameResult result = decoder_.push(data[i]);
    if (result.event != FrameEvent::kNone) handle(result);
  }
}

void Server::poll() {
  if (!decoder_.in_frame() || now_ms() - last_byte_ms_ < kStallTimeoutMs) return;
  const FrameResult result = decoder_.expire();
  if (result.event != FrameEvent::kNone) handle(result);
}

void Server::handle(const FrameResult& frame) {
  if (frame.event == FrameEvent::kError) {
    reply_link_error(frame);
    return;
  }
  ++counters_.frames_ok;
  const FrameHeader& request = frame.header;
  if (have_last_ && request.seq == last_seq_ && frame.crc == last_request_crc_) {
    ++counters_.retries_answered;
    send(tx_, last_reply_);  // the cached reply: the request is not executed again
    return;
  }
  if (have_previous_ && request.seq == previous_seq_ && frame.crc == previous_request_crc_) {
    ++counters_.retries_answered;  // a pipelining host retrying the request before the last one
    send(previous_tx_, previous_reply_);
    return;
  }
  // The last reply becomes the previous one (when small: every non-idempotent request's is).
  have_previous_ = have_last_ && last_reply_.length <= kPreviousReplyMaxPayload;
  if (have_previous_) {
    std::memcpy(previous_tx_, tx_, kHeaderBytes + last_reply_.length);
    previous_reply_ = last_reply_;
    previous_seq_ = last_seq_;
    previous_request_crc_ = last_request_crc_;
  }
  size_t reply_size = 0;
  ErrorCode code = ErrorCode::kNone;
  if (request.version != kVersion) {
    reason_ = "protocol version differs from the firmware's";
    code = ErrorCode::kBadVersion;
  } else {
    code = execute(request.type, frame.payload, request.length, &reply_size);
  }
  FrameHeader reply = {kVersion, static_cast<uint8_t>(request.type | kReplyFlag), request.seq, 0};
  if (code != ErrorCode::kNone) {
    ++counters_.errors[static_cast<uint8_t>(code)];
    reply.type = static_cast<uint8_t>(MessageType::kError);
    reply_size = error_payload(reply_payload(), code, request.type, reason_);
  }
  reply.length = static_cast<uint16_t>(reply_size);
  // A version mismatch is not cached: a host speaking the right version may reuse the seq.
  have_last_ = code != ErrorCode::kBadVersion;
  last_seq_ = request.seq;
  last_request_crc_ = frame.crc;
  last_reply_ = reply;
  send(tx_, reply);
}

void Server::reply_link_error(const FrameResult& frame) {
  ++counters_.errors[static_cast<uint8_t>(frame.error)];
  if (!frame.header_known) return;  // nothing to address a reply to: silent resync
  const char* reason = "frame damaged";
  switch (frame.error) {
    case ErrorCode::kBadCrc: reason = "frame CRC mismatch"; break;
    case ErrorCode::kOversize: reason = "frame longer than the maximum payload"; break;
    case ErrorCode::kTruncated: reason = "frame shorter than its header says"; break;
    case ErrorCode::kTimeout: reason = "frame stalled before its delimiter"; break;
    default: break;
  }
  uint8_t* payload = link_error_tx_ + kHeaderBytes;
  const size_t size = error_payload(payload, frame.error, frame.header.type, reason);
  send(link_error_tx_, {kVersion, static_cast<uint8_t>(MessageType::kError), frame.header.seq,
                        static_cast<uint16_t>(size)});
}

size_t Server::error_payload(uint8_t* out, ErrorCode code, uint8_t request_type, const char* reason) {
  size_t n = reason == nullptr ? 0 : std::strlen(reason);
  if (n > kMaxReasonBytes) n = kMaxReasonBytes;
  out[0] = static_cast<uint8_t>(code);
  out[1] = request_type;
  if (n > 0) std::memcpy(out + kErrorReplyFixedBytes, reason, n);
  return kErrorReplyFixedBytes + n;
}

void Server::send(uint8_t* frame, const FrameHeader& header) { encode_frame(frame, header, write_to_board, nullptr); }

ErrorCode Server::fail(ErrorCode code, const char* reason) {
  reason_ = reason;
  return code;
}

ErrorCode Server::execute(uint8_t type, const uint8_t* payload, size_t size, size_t* reply_size) {
  switch (static_cast<MessageType>(type)) {
    case MessageType::kInfo: return size == 0 ? info(reply_size) : fail(ErrorCode::kBadLength, "INFO takes no payload");
    case MessageType::kSetConfig: return set_config(payload, size, reply_size);
    case MessageType::kInfer: return infer(payload, size, reply_size);
    case MessageType::kTrain: return train(payload, size, reply_size);
    case MessageType::kStats: return size == 0 ? stats(reply_size) : fail(ErrorCode::kBadLength, "STATS takes no payload");
    case MessageType::kCheckpointRead: return checkpoint_read(payload, size, reply_size);
    case MessageType::kCheckpointWrite: return checkpoint_write(payload, size, reply_size);
    case MessageType::kResetParams:
      return size == 0 ? reset_params(reply_size) : fail(ErrorCode::kBadLength, "RESET_PARAMS takes no payload");
    case MessageType::kInputChunk: return input_chunk(payload, size, reply_size);
    case MessageType::kError: break;
  }
  return fail(ErrorCode::kUnknownType, "unknown message type");
}

ErrorCode Server::info(size_t* reply_size) {
  const board::Info& board_info = board::info();
  const board::MemoryInfo memory = board::memory();
  const runtime::ModelInfo& model = runtime::model_info();
  const bool ready = model_ready(model_status_);
  uint32_t errors = 0;
  for (uint32_t count : counters_.errors) errors += count;
  wire::Writer out(reply_payload(), kMaxPayload);
  out.u8(kVersion)
      .u8(static_cast<uint8_t>(model_status_))
      .u16(static_cast<uint16_t>(kMaxPayload))
      .u32(ready ? model.hash : 0u)
      .u32(memory.ram_budget_bytes)
      .u32(memory.static_ram_bytes)
      .u32(memory.stack_bytes)
      .u32(board::stack_high_water_bytes())
      .u32(ready ? model.arena_bytes : 0u)
      .u32(ready ? model.input_bytes : 0u)
      .u32(ready ? model.output_bytes : 0u)
      .u32(ready ? model.trainable_bytes : 0u)
      .u32(counters_.peak_sram_last_step)
      .u32(board_info.core_clock_hz)
      .u32(board_info.counter_hz)
      .u32(counters_.samples_trained)
      .u32(counters_.frames_ok)
      .u32(errors)
      .u32(ready ? runtime::staging_capacity() : 0u)
      .f32(config_.learning_rate)
      .u8(config_.gradient_filter)
      .u32(config_.seed)
      .str8(MCUTRAIN_FW_VERSION)
      .str8(board_info.name)
      .str8(board_info.cpu)
      .str8(ready ? model.name : "")
      .str8(ready ? "ok" : model_why_);
  *reply_size = out.size();
  return ErrorCode::kNone;
}

ErrorCode Server::set_config(const uint8_t* payload, size_t size, size_t* reply_size) {
  if (size != kSetConfigBytes) return fail(ErrorCode::kBadLength, "SET_CONFIG takes 9 bytes");
  const float learning_rate = wire::get_f32(payload);
  const uint8_t gradient_filter = payload[4];
  const uint32_t seed = wire::get_u32(payload + 5);
  if (!std::isfinite(learning_rate) || !(learning_rate > 0.0f) || learning_rate > 1.0f) {
    return fail(ErrorCode::kBadValue, "learning_rate must be in (0, 1]");
  }
  if (gradient_filter > 1) return fail(ErrorCode::kBadValue, "gradient_filter must be 0 or 1");
  if (seed == 0) return fail(ErrorCode::kBadValue, "seed must be non-zero");
  config_ = {learning_rate, gradient_filter, seed};
  runtime::configure(learning_rate, seed, gradient_filter != 0);
  std::memcpy(reply_payload(), payload, kSetConfigBytes);  // the settings now in force
  *reply_size = kSetConfigBytes;
  return ErrorCode::kNone;
}

ErrorCode Server::infer(const uint8_t* payload, size_t size, size_t* reply_size) {
  if (!model_ready(model_status_)) return fail(ErrorCode::kNoModel, model_why_);
  const runtime::ModelInfo& model = runtime::model_info();
  const bool staged = size == 0;  // no tensor: the one INPUT_CHUNKs staged
  if (staged) {
    const ErrorCode refused = check_staged_input();
    if (refused != ErrorCode::kNone) return refused;
  } else {
    if (staging_ == Staging::kCheckpoint) return fail(ErrorCode::kBadSequence, kCheckpointStaged);
    if (size != model.input_bytes) return fail(ErrorCode::kBadLength, "input tensor size differs from the model's");
  }
  if (kInferReplyFixedBytes + model.output_bytes > kMaxPayload) {
    return fail(ErrorCode::kTooLarge, "logits exceed the max payload");
  }
  uint8_t* out = reply_payload();
  int8_t* logits = reinterpret_cast<int8_t*>(out + kInferReplyFixedBytes);
  uint8_t predicted = 0;
  const uint64_t start = board::counter();
  const runtime::Status status =
      staged ? runtime::infer_staged(logits, model.output_bytes, &predicted)
             : runtime::infer(reinterpret_cast<const int8_t*>(payload), size, logits, model.output_bytes, &predicted);
  const uint32_t ticks = ticks_since(start);
  if (status != runtime::Status::kOk) return fail(error_for(status), runtime::status_name(status));
  end_input_staging(staged ? kInputUsed : kInputOverwritten);  // the forward pass overwrote the arena
  ++counters_.samples_inferred;
  out[0] = predicted;
  out[1] = 0;
  wire::put_u16(out + 2, static_cast<uint16_t>(model.output_bytes));
  wire::put_u32(out + 4, ticks);
  *reply_size = kInferReplyFixedBytes + model.output_bytes;
  return ErrorCode::kNone;
}

ErrorCode Server::train(const uint8_t* payload, size_t size, size_t* reply_size) {
  if (!model_ready(model_status_)) return fail(ErrorCode::kNoModel, model_why_);
  const runtime::ModelInfo& model = runtime::model_info();
  const bool staged = size == kTrainRequestFixedBytes;  // a label only: the input INPUT_CHUNKs staged
  if (staged) {
    const ErrorCode refused = check_staged_input();
    if (refused != ErrorCode::kNone) return refused;
  } else {
    if (staging_ == Staging::kCheckpoint) return fail(ErrorCode::kBadSequence, kCheckpointStaged);
    if (size != kTrainRequestFixedBytes + model.input_bytes) {
      return fail(ErrorCode::kBadLength, "input tensor size differs from the model's");
    }
  }
  const uint8_t label = payload[0];
  if (label >= model.output_bytes) return fail(ErrorCode::kBadLabel, "label out of range");
  runtime::TrainResult result = {0, 0, false};
  const uint64_t start = board::counter();
  const runtime::Status status =
      staged ? runtime::train_staged(label, &result)
             : runtime::train(reinterpret_cast<const int8_t*>(payload + kTrainRequestFixedBytes), model.input_bytes,
                              label, &result);
  const uint32_t ticks = ticks_since(start);
  if (status != runtime::Status::kOk) return fail(error_for(status), runtime::status_name(status));
  end_input_staging(staged ? kInputUsed : kInputOverwritten);  // the step overwrote the arena
  ++counters_.samples_trained;
  if (result.correct) ++counters_.samples_correct;
  counters_.loss_sum_q16 += result.loss_q16 > 0 ? static_cast<uint64_t>(result.loss_q16) : 0u;
  // Static data plus the deepest stack so far: an upper bound of the step's SRAM use until the
  // runtime reports its own peak.
  counters_.peak_sram_last_step = board::memory().static_ram_bytes + board::stack_high_water_bytes();
  uint8_t* out = reply_payload();
  wire::put_u32(out, static_cast<uint32_t>(result.loss_q16));
  out[4] = result.predicted;
  out[5] = result.correct ? 1 : 0;
  wire::put_u16(out + 6, 0);
  wire::put_u32(out + 8, ticks);
  *reply_size = kTrainReplyBytes;
  return ErrorCode::kNone;
}

ErrorCode Server::check_staged_input() {
  if (staging_ != Staging::kInput) return fail(ErrorCode::kBadSequence, unstaged_why_);
  if (staged_bytes_ != runtime::model_info().input_bytes) return fail(ErrorCode::kBadSequence, kInputIncomplete);
  return ErrorCode::kNone;
}

void Server::end_input_staging(const char* why) {
  if (staging_ != Staging::kInput) return;
  staging_ = Staging::kNone;
  staged_bytes_ = 0;
  unstaged_why_ = why;
}

ErrorCode Server::stats(size_t* reply_size) {
  wire::Writer out(reply_payload(), kMaxPayload);
  out.u32(counters_.samples_trained)
      .u32(counters_.samples_correct)
      .u32(static_cast<uint32_t>(counters_.loss_sum_q16))
      .u32(static_cast<uint32_t>(counters_.loss_sum_q16 >> 32))
      .u32(counters_.samples_inferred)
      .u32(counters_.frames_ok)
      .u32(counters_.retries_answered)
      .u32(counters_.peak_sram_last_step)
      .u8(static_cast<uint8_t>(kErrorCodeCount));
  for (uint32_t count : counters_.errors) out.u32(count);
  *reply_size = out.size();
  return ErrorCode::kNone;
}

ErrorCode Server::checkpoint_read(const uint8_t* payload, size_t size, size_t* reply_size) {
  if (size != kCheckpointReadRequestBytes) return fail(ErrorCode::kBadLength, "CHECKPOINT_READ takes 6 bytes");
  if (!model_ready(model_status_)) return fail(ErrorCode::kNoModel, model_why_);
  const uint32_t offset = wire::get_u32(payload);
  uint32_t length = wire::get_u16(payload + 4);
  const uint32_t total = runtime::model_info().trainable_bytes;
  const uint8_t* params = runtime::trainable_params();
  if (params == nullptr && total != 0) return fail(ErrorCode::kInternal, "trainable parameters unavailable");
  if (offset > total) return fail(ErrorCode::kBadValue, "offset past the end of the parameters");
  const uint32_t room = static_cast<uint32_t>(kMaxPayload - kCheckpointReadReplyFixedBytes);
  if (length > room) length = room;
  if (length > total - offset) length = total - offset;
  uint8_t* out = reply_payload();
  wire::put_u32(out, total);
  wire::put_u32(out + 4, total == 0 ? 0u : mcu::crc32(params, total));
  wire::put_u32(out + 8, offset);
  if (length > 0) std::memcpy(out + kCheckpointReadReplyFixedBytes, params + offset, length);
  *reply_size = kCheckpointReadReplyFixedBytes + length;
  return ErrorCode::kNone;
}

ErrorCode Server::checkpoint_write(const uint8_t* payload, size_t size, size_t* reply_size) {
  if (size < kCheckpointWriteFixedBytes) return fail(ErrorCode::kBadLength, "CHECKPOINT_WRITE takes 12 bytes and data");
  if (!model_ready(model_status_)) return fail(ErrorCode::kNoModel, model_why_);
  const uint32_t offset = wire::get_u32(payload);
  const uint32_t total = wire::get_u32(payload + 4);
  const uint32_t total_crc = wire::get_u32(payload + 8);
  const uint8_t* data = payload + kCheckpointWriteFixedBytes;
  const uint32_t length = static_cast<uint32_t>(size - kCheckpointWriteFixedBytes);
  const uint32_t expected = runtime::model_info().trainable_bytes;
  uint8_t* params = runtime::trainable_params();
  if (total != expected) return fail(ErrorCode::kBadLength, "checkpoint size differs from the model's parameters");
  if (params == nullptr || total == 0) return fail(ErrorCode::kBadValue, "the model has no trainable parameters");
  uint8_t* staging = runtime::staging_area();
  if (staging == nullptr || total > runtime::staging_capacity())
    return fail(ErrorCode::kTooLarge, "checkpoint larger than the staging area");
  const bool restart = offset == 0;  // a new checkpoint: forget any unfinished one
  if (!restart && (staging_ != Staging::kCheckpoint || offset != staged_bytes_ || total != staging_total_ ||
                   total_crc != staging_crc_)) {
    return fail(ErrorCode::kBadSequence, "chunk out of order or write abandoned: restart at offset 0");
  }
  // offset <= total here: 0, or the bytes staged so far (a complete checkpoint ends the staging).
  if (length > total - offset) return fail(ErrorCode::kBadLength, "chunk runs past the end of the parameters");
  uint8_t flags = 0;
  if (restart) {
    if (staging_ == Staging::kInput) {
      end_input_staging(kInputAbandoned);  // the checkpoint's bytes overwrite the input tensor
      flags |= kAbandonedOtherStaging;
    }
    staging_ = Staging::kCheckpoint;
    staged_bytes_ = 0;
    staging_total_ = total;
    staging_crc_ = total_crc;
  }
  std::memcpy(staging + offset, data, length);
  staged_bytes_ += length;
  const uint32_t received = staged_bytes_;
  if (received == total) {
    staging_ = Staging::kNone;
    staged_bytes_ = 0;
    if (mcu::crc32(staging, total) != total_crc) {
      return fail(ErrorCode::kBadChecksum, "checkpoint CRC mismatch: not applied");
    }
    std::memcpy(params, staging, total);
    flags |= kCheckpointApplied;
  }
  uint8_t* out = reply_payload();
  wire::put_u32(out, received);
  out[4] = flags;
  *reply_size = kCheckpointWriteReplyBytes;
  return ErrorCode::kNone;
}

ErrorCode Server::reset_params(size_t* reply_size) {
  if (!model_ready(model_status_)) return fail(ErrorCode::kNoModel, model_why_);
  if (staging_ == Staging::kCheckpoint) staging_ = Staging::kNone;  // a staged input stays: not in its way
  runtime::reset_params();
  const uint32_t total = runtime::model_info().trainable_bytes;
  const uint8_t* params = runtime::trainable_params();
  uint8_t* out = reply_payload();
  wire::put_u32(out, total);
  wire::put_u32(out + 4, params == nullptr || total == 0 ? 0u : mcu::crc32(params, total));
  *reply_size = kResetParamsReplyBytes;
  return ErrorCode::kNone;
}

ErrorCode Server::input_chunk(const uint8_t* payload, size_t size, size_t* reply_size) {
  if (size < kInputChunkFixedBytes) return fail(ErrorCode::kBadLength, "INPUT_CHUNK takes 4 bytes and data");
  if (!model_ready(model_status_)) return fail(ErrorCode::kNoModel, model_why_);
  const uint32_t offset = wire::get_u32(payload);
  const uint8_t* data = payload + kInputChunkFixedBytes;
  const uint32_t length = static_cast<uint32_t>(size - kInputChunkFixedBytes);
  const uint32_t total = runtime::model_info().input_bytes;
  int8_t* tensor = runtime::input_tensor();
  if (tensor == nullptr) return fail(ErrorCode::kInternal, "input tensor unavailable");
  if (length == 0) return fail(ErrorCode::kBadLength, "INPUT_CHUNK carries no data");
  const bool restart = offset == 0;  // a new input: forget any staged one
  if (!restart && (staging_ != Staging::kInput || offset != staged_bytes_)) {
    return fail(ErrorCode::kBadSequence, "input chunk out of order: restart at offset 0");
  }
  // offset <= total here: 0, or the bytes staged so far.
  if (length > total - offset) return fail(ErrorCode::kBadLength, "chunk runs past the end of the input tensor");
  uint8_t flags = 0;
  if (restart) {
    if (staging_ == Staging::kCheckpoint) flags |= kAbandonedOtherStaging;  // the input overwrites its bytes
    staging_ = Staging::kInput;
    staged_bytes_ = 0;
  }
  std::memcpy(tensor + offset, data, length);
  staged_bytes_ += length;
  if (staged_bytes_ == total) flags |= kInputComplete;
  uint8_t* out = reply_payload();
  wire::put_u32(out, staged_bytes_);
  out[4] = flags;
  *reply_size = kInputChunkReplyBytes;
  return ErrorCode::kNone;
}

}  // namespace protocol
