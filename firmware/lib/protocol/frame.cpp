#include "frame.h"

#include "crc32.h"
#include "wire.h"

namespace protocol {

FrameDecoder::FrameDecoder(uint8_t* buffer, size_t capacity) : buffer_(buffer), capacity_(capacity) {}

void FrameDecoder::reset() {
  size_ = 0;
  remaining_ = 0;
  block_ends_with_zero_ = false;
  started_ = false;
}

void FrameDecoder::store(uint8_t byte) {
  if (size_ < capacity_) buffer_[size_] = byte;
  if (size_ <= capacity_) ++size_;  // size_ == capacity_ + 1 marks an oversize frame
}

FrameResult FrameDecoder::push(uint8_t byte) {
  if (byte == kDelimiter) {
    if (!started_) return {FrameEvent::kNone, ErrorCode::kNone, false, {}, nullptr, 0u};
    const FrameResult result = finish();
    reset();
    return result;
  }
  if (remaining_ == 0) {
    // A code byte: the previous block (if any, and unless it was a full 254-byte block) stood for
    // data followed by a zero.
    if (started_ && block_ends_with_zero_) store(0);
    remaining_ = static_cast<uint8_t>(byte - 1);
    block_ends_with_zero_ = byte != 0xFF;
    started_ = true;
  } else {
    store(byte);
    --remaining_;
  }
  return {FrameEvent::kNone, ErrorCode::kNone, false, {}, nullptr, 0u};
}

FrameResult FrameDecoder::expire() {
  if (!started_) return {FrameEvent::kNone, ErrorCode::kNone, false, {}, nullptr, 0u};
  const FrameResult result = error(ErrorCode::kTimeout);
  reset();
  return result;
}

FrameResult FrameDecoder::error(ErrorCode code) const {
  FrameResult result = {FrameEvent::kError, code, false, {}, nullptr, 0u};
  if (size_ >= kHeaderBytes) {
    result.header_known = true;
    result.header = {buffer_[0], buffer_[1], wire::get_u16(buffer_ + 2), wire::get_u16(buffer_ + 4)};
  }
  return result;
}

FrameResult FrameDecoder::finish() {
  if (size_ > capacity_) return error(ErrorCode::kOversize);
  // A block cut short by the delimiter, or a frame too small to hold header and CRC.
  if (remaining_ != 0 || size_ < kHeaderBytes + kCrcBytes) return error(ErrorCode::kTruncated);
  const FrameHeader header = {buffer_[0], buffer_[1], wire::get_u16(buffer_ + 2), wire::get_u16(buffer_ + 4)};
  if (static_cast<size_t>(header.length) + kHeaderBytes + kCrcBytes != size_) return error(ErrorCode::kTruncated);
  const size_t body = kHeaderBytes + header.length;
  const uint32_t crc = mcu::crc32(buffer_, body);
  if (crc != wire::get_u32(buffer_ + body)) return error(ErrorCode::kBadCrc);
  return {FrameEvent::kFrame, ErrorCode::kNone, true, header, buffer_ + kHeaderBytes, crc};
}

void put_header(uint8_t* frame, const FrameHeader& header) {
  frame[0] = header.version;
  frame[1] = header.type;
  wire::put_u16(frame + 2, header.seq);
  wire::put_u16(frame + 4, header.length);
}

size_t encode_frame(uint8_t* frame, const FrameHeader& header, ByteSink sink, void* context) {
  put_header(frame, header);
  const size_t body = kHeaderBytes + header.length;
  wire::put_u32(frame + body, mcu::crc32(frame, body));
  const size_t total = body + kCrcBytes;
  // COBS: each block is a code byte n (1..255) followed by n-1 non-zero bytes; a code < 0xFF
  // stands for a zero after its block, except at the very end of the frame.
  size_t encoded = 0;
  size_t start = 0;
  for (;;) {
    size_t end = start;
    while (end < total && frame[end] != 0 && end - start < 254) ++end;
    const uint8_t code = static_cast<uint8_t>(end - start + 1);
    sink(&code, 1, context);
    if (end > start) sink(frame + start, end - start, context);
    encoded += 1 + (end - start);
    if (end >= total) break;
    // Skip the zero this block stands for; a full block (code 0xFF) stands for none.
    start = code == 0xFF ? end : end + 1;
    if (code != 0xFF && start == total) {
      // The frame ended with a zero: one more (empty) block carries it.
      const uint8_t last = 1;
      sink(&last, 1, context);
      ++encoded;
      break;
    }
  }
  const uint8_t delimiter = kDelimiter;
  sink(&delimiter, 1, context);
  return encoded + 1;
}

const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kNone: return "none";
    case ErrorCode::kBadCrc: return "bad_crc";
    case ErrorCode::kOversize: return "oversize";
    case ErrorCode::kTruncated: return "truncated";
    case ErrorCode::kUnknownType: return "unknown_type";
    case ErrorCode::kBadVersion: return "bad_version";
    case ErrorCode::kBadLength: return "bad_length";
    case ErrorCode::kBadLabel: return "bad_label";
    case ErrorCode::kTimeout: return "timeout";
    case ErrorCode::kBadValue: return "bad_value";
    case ErrorCode::kBadSequence: return "bad_sequence";
    case ErrorCode::kNoModel: return "no_model";
    case ErrorCode::kNotInThisBuild: return "not_in_this_build";
    case ErrorCode::kTooLarge: return "too_large";
    case ErrorCode::kBadChecksum: return "bad_checksum";
    case ErrorCode::kInternal: return "internal";
  }
  return "unknown";
}

}  // namespace protocol
