// The serial protocol between the host (host_tools/protocol) and the device: constants shared by
// the frame codec (frame.h) and the server (server.h). README.md, section "Protocol", has the
// message table; host_tools/protocol/messages.py mirrors every number here.
//
// A frame on the wire is COBS(header | payload | crc32) followed by one 0x00 delimiter:
//   header  6 bytes, little-endian: version u8, type u8, seq u16, payload length u16
//   payload `length` bytes (at most kMaxPayload)
//   crc32   4 bytes, little-endian: CRC-32 (zlib's) of header and payload
// Every reply carries its request's seq. A reply's type is the request's type | kReplyFlag, or
// kError.
#pragma once

#include <cstddef>
#include <cstdint>

#ifndef MCUTRAIN_PROTOCOL_MAX_PAYLOAD
/// Largest payload a frame may carry; announced in INFO. 2048 holds a 32x32x1 or 28x28x1 int8
/// tensor plus its label, or a checkpoint chunk. Builds may raise it for larger inputs.
#define MCUTRAIN_PROTOCOL_MAX_PAYLOAD 2048
#endif

namespace protocol {

constexpr uint8_t kVersion = 1;
constexpr uint8_t kDelimiter = 0x00;
constexpr size_t kHeaderBytes = 6;
constexpr size_t kCrcBytes = 4;
constexpr size_t kMaxPayload = MCUTRAIN_PROTOCOL_MAX_PAYLOAD;
constexpr size_t kMaxFrameBytes = kHeaderBytes + kMaxPayload + kCrcBytes;  ///< Decoded size.
/// A frame whose bytes stop arriving for this long (device time) is dropped with kTimeout.
constexpr uint32_t kStallTimeoutMs = 200;
/// seq of an ERROR reply to a frame whose header could not be read.
constexpr uint16_t kUnknownSeq = 0xFFFF;

static_assert(kMaxPayload >= 64 && kMaxPayload <= 0xFFFF, "max payload must fit the u16 length field");

enum class MessageType : uint8_t {
  kInfo = 0x01,
  kSetConfig = 0x02,
  kInfer = 0x03,
  kTrain = 0x04,
  kStats = 0x05,
  kCheckpointRead = 0x06,
  kCheckpointWrite = 0x07,
  kResetParams = 0x08,
  kInputChunk = 0x09,
  kError = 0x7F,  ///< Reply only.
};
constexpr uint8_t kReplyFlag = 0x80;

/// ERROR reply codes; STATS counts the errors seen by each code (index = code).
enum class ErrorCode : uint8_t {
  kNone = 0,
  kBadCrc = 1,          ///< Frame CRC mismatch (line noise): resend.
  kOversize = 2,        ///< Frame longer than the maximum: resend smaller.
  kTruncated = 3,       ///< Frame shorter than its header says, or malformed COBS.
  kUnknownType = 4,     ///< Not a request type this firmware knows.
  kBadVersion = 5,      ///< Header's protocol version differs from kVersion.
  kBadLength = 6,       ///< Payload length wrong for the message (e.g. tensor size).
  kBadLabel = 7,        ///< Label >= number of classes.
  kTimeout = 8,         ///< A partial frame stalled for kStallTimeoutMs.
  kBadValue = 9,        ///< A field out of its range (SET_CONFIG, checkpoint offset).
  kBadSequence = 10,    ///< Chunk out of order, or INFER/TRAIN without a complete staged input.
  kNoModel = 11,        ///< No model linked, or it was refused at boot.
  kNotInThisBuild = 12, ///< The feature (training) is not compiled in.
  kTooLarge = 13,       ///< Checkpoint larger than the staging area.
  kBadChecksum = 14,    ///< Assembled checkpoint does not match its announced CRC: not applied.
  kInternal = 15,
};
constexpr size_t kErrorCodeCount = 16;

const char* error_code_name(ErrorCode code);

/// True for errors that say the frame was damaged in transit (the host resends the same seq).
inline bool is_link_error(ErrorCode code) {
  return code == ErrorCode::kBadCrc || code == ErrorCode::kOversize || code == ErrorCode::kTruncated ||
         code == ErrorCode::kTimeout;
}

// Payload layouts (little-endian, no padding). Sizes of the fixed parts:
constexpr size_t kSetConfigBytes = 9;         ///< f32 learning_rate, u8 gradient_filter, u32 seed.
constexpr size_t kInferReplyFixedBytes = 8;   ///< u8 predicted, u8 0, u16 n_logits, u32 ticks, then logits.
constexpr size_t kTrainRequestFixedBytes = 1; ///< u8 label, then the input tensor.
constexpr size_t kTrainReplyBytes = 12;       ///< i32 loss_q16, u8 predicted, u8 correct, u16 0, u32 ticks.
constexpr size_t kCheckpointReadRequestBytes = 6;   ///< u32 offset, u16 max_length.
constexpr size_t kCheckpointReadReplyFixedBytes = 12;   ///< u32 total, u32 total_crc, u32 offset, then data.
constexpr size_t kCheckpointWriteFixedBytes = 12;   ///< u32 offset, u32 total, u32 total_crc, then data.
constexpr size_t kCheckpointWriteReplyBytes = 5;    ///< u32 received, u8 flags (kCheckpointApplied, ...).
constexpr size_t kInputChunkFixedBytes = 4;         ///< u32 offset, then data.
constexpr size_t kInputChunkReplyBytes = 5;         ///< u32 staged, u8 flags (kInputComplete, ...).
constexpr size_t kResetParamsReplyBytes = 8;        ///< u32 total, u32 crc.
constexpr size_t kErrorReplyFixedBytes = 2;         ///< u8 code, u8 request type, then reason text.
constexpr size_t kMaxReasonBytes = 60;

// Bits of the flags byte of CHECKPOINT_WRITE's and INPUT_CHUNK's replies. Both stage their bytes
// in the model's arena, so the offset-0 chunk of one abandons whatever the other had staged, and
// its reply says so (the host that staged it may be another, earlier session).
constexpr uint8_t kCheckpointApplied = 0x01;      ///< CHECKPOINT_WRITE: all bytes in, CRC good, applied.
constexpr uint8_t kInputComplete = 0x01;          ///< INPUT_CHUNK: the whole input tensor is staged.
constexpr uint8_t kAbandonedOtherStaging = 0x02;  ///< This chunk abandoned the other kind's staging.

}  // namespace protocol
