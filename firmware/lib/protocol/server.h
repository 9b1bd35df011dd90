// The protocol server: turns received bytes into requests, runs them on the model runtime
// (include/runtime.h) and writes the replies over the board link (include/board.h).
//
// Robustness rules (README "Protocol"):
// - a damaged frame (bad CRC, oversize, truncated, stalled past kStallTimeoutMs) is counted by
//   kind and answered with ERROR when its header is readable; an empty frame is ignored;
// - a request that is valid but wrong (unknown type, version, length, label, value) is answered
//   with ERROR and changes nothing;
// - a request whose seq and CRC equal the last executed one is a retry: the last reply is sent
//   again and the request is not executed again (a retried TRAIN does not train twice); the
//   same holds for the request executed before it when its reply was small (at most
//   kPreviousReplyMaxPayload bytes: TRAIN, INFER of up to 56 classes, SET_CONFIG, CHECKPOINT_WRITE,
//   RESET_PARAMS), so a host with two requests in flight can retry either of them safely;
// - CHECKPOINT_WRITE assembles the chunks in a staging area (the model's arena, idle between
//   requests: runtime::staging_area) and copies them over the trainable parameters only when all
//   bytes have arrived and their CRC matches the announced one; while a checkpoint is staged,
//   INFER and TRAIN (which would overwrite the arena) are refused with kBadSequence;
// - INPUT_CHUNK stages an input larger than one frame in the model's input tensor (in the same
//   arena: runtime::input_tensor), in order from offset 0; an INFER or TRAIN without a tensor
//   runs on it once complete and consumes it (kBadSequence when none is complete);
// - the arena holds one staging at a time: the offset-0 chunk of a checkpoint abandons a staged
//   input and vice versa, and its reply's flags say so (kAbandonedOtherStaging); an INFER or
//   TRAIN carrying its tensor overwrites a staged input.
// All memory is static (members of the one Server object); nothing is allocated.
#pragma once

#include <cstddef>
#include <cstdint>

#include "frame.h"
#include "protocol.h"
#include "runtime.h"

namespace protocol {

/// Training settings from SET_CONFIG (held here and reported in INFO until the training engine
/// takes them).
struct Config {
  float learning_rate;
  uint8_t gradient_filter;  ///< 0 off, 1 on.
  uint32_t seed;            ///< Non-zero.
};

/// What the arena holds for a later request between requests (Server::staging()).
enum class Staging : uint8_t {
  kNone,
  kCheckpoint,  ///< CHECKPOINT_WRITE chunks, not yet complete.
  kInput,       ///< INPUT_CHUNK bytes in the input tensor, complete or not, not yet used.
};

/// Running counters, reported by STATS (and some by INFO).
struct Counters {
  uint32_t frames_ok;          ///< Valid frames received (retries included).
  uint32_t retries_answered;   ///< Requests answered from the last reply.
  uint32_t samples_trained;
  uint32_t samples_correct;    ///< Of the samples trained: predicted right before the update.
  uint64_t loss_sum_q16;       ///< Sum of training losses, 16.16 fixed point.
  uint32_t samples_inferred;
  uint32_t errors[kErrorCodeCount];  ///< ERRORs by code (index = ErrorCode).
  uint32_t peak_sram_last_step;      ///< Bytes; 0 until a training step ran.
};

class Server {
 public:
  Server() = default;
  Server(const Server&) = delete;  // the decoder points into rx_
  Server& operator=(const Server&) = delete;

  /// Starts (or restarts) serving with cleared counters, cache and staging. model_status /
  /// model_why: what runtime::init() answered at boot (INFO reports them; every model request
  /// is refused with kNoModel when it is not kOk).
  void begin(runtime::Status model_status, const char* model_why);

  /// Feeds received bytes; complete requests are executed and answered before this returns.
  void receive(const uint8_t* data, size_t size);

  /// Call when the line is idle: drops a partial frame that stalled past kStallTimeoutMs.
  void poll();

  const Counters& counters() const { return counters_; }
  const Config& config() const { return config_; }
  Staging staging() const { return staging_; }
  /// Bytes of the checkpoint or of the input staged so far (0 with Staging::kNone).
  uint32_t staged_bytes() const { return staging_ == Staging::kNone ? 0u : staged_bytes_; }

 private:
  void handle(const FrameResult& frame);
  void reply_link_error(const FrameResult& frame);
  ErrorCode execute(uint8_t type, const uint8_t* payload, size_t size, size_t* reply_size);
  ErrorCode info(size_t* reply_size);
  ErrorCode set_config(const uint8_t* payload, size_t size, size_t* reply_size);
  ErrorCode infer(const uint8_t* payload, size_t size, size_t* reply_size);
  ErrorCode train(const uint8_t* payload, size_t size, size_t* reply_size);
  ErrorCode stats(size_t* reply_size);
  ErrorCode checkpoint_read(const uint8_t* payload, size_t size, size_t* reply_size);
  ErrorCode checkpoint_write(const uint8_t* payload, size_t size, size_t* reply_size);
  ErrorCode reset_params(size_t* reply_size);
  ErrorCode input_chunk(const uint8_t* payload, size_t size, size_t* reply_size);
  ErrorCode check_staged_input();
  void end_input_staging(const char* why);
  ErrorCode fail(ErrorCode code, const char* reason);
  size_t error_payload(uint8_t* out, ErrorCode code, uint8_t request_type, const char* reason);
  void send(uint8_t* frame, const FrameHeader& header);
  uint32_t now_ms() const;
  uint8_t* reply_payload() { return tx_ + kHeaderBytes; }

  runtime::Status model_status_ = runtime::Status::kNoModel;
  const char* model_why_ = "not started";
  Config config_ = {0.01f, 1u, 1u};  // gradient filtering on, as the trainer boots
  Counters counters_ = {};

  uint8_t rx_[kMaxFrameBytes] = {};
  FrameDecoder decoder_{rx_, sizeof(rx_)};
  uint32_t last_byte_ms_ = 0;

  // The last reply, kept whole for retries: tx_ holds header, payload and CRC.
  uint8_t tx_[kMaxFrameBytes] = {};
  FrameHeader last_reply_ = {};
  bool have_last_ = false;
  uint16_t last_seq_ = 0;
  uint32_t last_request_crc_ = 0;
  const char* reason_ = "";  ///< Reason of the ERROR execute() is about to return.

  // The reply before the last one, for a pipelining host's retries (only small replies).
  static constexpr size_t kPreviousReplyMaxPayload = 64;
  uint8_t previous_tx_[kHeaderBytes + kPreviousReplyMaxPayload + kCrcBytes] = {};
  FrameHeader previous_reply_ = {};
  bool have_previous_ = false;
  uint16_t previous_seq_ = 0;
  uint32_t previous_request_crc_ = 0;

  // ERROR replies to damaged frames are built here, so they never replace the cached reply.
  uint8_t link_error_tx_[kHeaderBytes + kErrorReplyFixedBytes + kMaxReasonBytes + kCrcBytes] = {};

  // The staging in the arena (runtime::staging_area(), which holds runtime::input_tensor()).
  Staging staging_ = Staging::kNone;
  uint32_t staged_bytes_ = 0;
  uint32_t staging_total_ = 0;  ///< Checkpoint: the announced size.
  uint32_t staging_crc_ = 0;    ///< Checkpoint: the announced CRC.
  /// Why no complete input is staged: the reason an INFER or TRAIN without a tensor is refused.
  const char* unstaged_why_ = "";
};

}  // namespace protocol
