// Frame codec: COBS framing with a 0x00 delimiter, a 6-byte header and a CRC-32 trailer
// (layout in protocol.h). The decoder is fed one byte at a time, decodes COBS as the bytes arrive
// into a caller-owned buffer (no copy, no heap), and reports each delimited frame exactly once:
// valid, or with the reason it is not. Bytes after an oversize frame are consumed up to the next
// delimiter, so the decoder always resynchronises on the next frame.
#pragma once

#include <cstddef>
#include <cstdint>

#include "protocol.h"

namespace protocol {

struct FrameHeader {
  uint8_t version;
  uint8_t type;
  uint16_t seq;
  uint16_t length;  ///< Payload bytes.
};

enum class FrameEvent : uint8_t {
  kNone,   ///< Nothing complete yet (or an empty frame: two delimiters in a row, ignored).
  kFrame,  ///< A complete frame whose length and CRC check out.
  kError,  ///< A complete (or abandoned) frame that is not valid; see error.
};

struct FrameResult {
  FrameEvent event;
  ErrorCode error;       ///< For kError: kBadCrc, kOversize, kTruncated or kTimeout.
  bool header_known;     ///< At least the header's bytes arrived (seq and type are meaningful).
  FrameHeader header;
  const uint8_t* payload;  ///< For kFrame: header.length bytes inside the decoder's buffer,
                           ///< valid until the next push().
  uint32_t crc;            ///< For kFrame: the frame's CRC (identifies a retried request).
};

class FrameDecoder {
 public:
  /// buffer: receives the decoded frame (header, payload, CRC); capacity: its size in bytes, at
  /// least kHeaderBytes + kCrcBytes. A frame that decodes to more than `capacity` is oversize.
  FrameDecoder(uint8_t* buffer, size_t capacity);

  /// Feeds one received byte.
  FrameResult push(uint8_t byte);

  /// Abandons a partial frame (the caller saw the line stall): kError/kTimeout when bytes of an
  /// unfinished frame were pending, kNone otherwise.
  FrameResult expire();

  /// True between the first byte of a frame and its delimiter.
  bool in_frame() const { return started_; }

 private:
  void store(uint8_t byte);
  FrameResult finish();
  FrameResult error(ErrorCode code) const;
  void reset();

  uint8_t* buffer_;
  size_t capacity_;
  size_t size_ = 0;        ///< Decoded bytes stored (or that would have been, once oversize).
  uint8_t remaining_ = 0;  ///< Data bytes left in the current COBS block.
  bool block_ends_with_zero_ = false;  ///< Current block's code was < 0xFF.
  bool started_ = false;
};

/// Called with consecutive pieces of an encoded frame (the last piece ends with the delimiter).
using ByteSink = void (*)(const uint8_t* data, size_t size, void* context);

/// Encodes the frame already laid out in `frame` (header and payload; the CRC is computed here
/// and written after the payload, so `frame` needs kCrcBytes of room past them) and emits it,
/// COBS-encoded and delimited, to `sink`. Returns the encoded size in bytes.
size_t encode_frame(uint8_t* frame, const FrameHeader& header, ByteSink sink, void* context);

/// Writes `header` into the first kHeaderBytes of `frame`.
void put_header(uint8_t* frame, const FrameHeader& header);

/// Worst-case COBS size of `size` bytes plus the delimiter.
constexpr size_t encoded_size_bound(size_t size) { return size + size / 254 + 2; }

}  // namespace protocol
