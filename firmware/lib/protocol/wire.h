// Little-endian field access for protocol payloads (no alignment assumed, no type punning).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace protocol::wire {

inline uint16_t get_u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

inline uint32_t get_u32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) | (static_cast<uint32_t>(p[2]) << 16) |
         (static_cast<uint32_t>(p[3]) << 24);
}

inline float get_f32(const uint8_t* p) {
  const uint32_t bits = get_u32(p);
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

inline void put_u16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}

inline void put_u32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
  p[2] = static_cast<uint8_t>(v >> 16);
  p[3] = static_cast<uint8_t>(v >> 24);
}

inline void put_f32(uint8_t* p, float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  put_u32(p, bits);
}

/// Sequential writer into a caller-owned buffer; writes past `capacity` are dropped and flagged.
class Writer {
 public:
  Writer(uint8_t* data, size_t capacity) : data_(data), capacity_(capacity) {}

  Writer& u8(uint8_t v) {
    if (reserve(1)) data_[size_++] = v;
    return *this;
  }
  Writer& u16(uint16_t v) {
    if (reserve(2)) put_u16(data_ + size_, v), size_ += 2;
    return *this;
  }
  Writer& u32(uint32_t v) {
    if (reserve(4)) put_u32(data_ + size_, v), size_ += 4;
    return *this;
  }
  Writer& f32(float v) {
    if (reserve(4)) put_f32(data_ + size_, v), size_ += 4;
    return *this;
  }
  Writer& bytes(const void* src, size_t n) {
    if (reserve(n)) std::memcpy(data_ + size_, src, n), size_ += n;
    return *this;
  }
  /// A string as u8 length + bytes (cut at 255 bytes).
  Writer& str8(const char* text) {
    size_t n = text == nullptr ? 0 : std::strlen(text);
    if (n > 255) n = 255;
    u8(static_cast<uint8_t>(n));
    return bytes(text, n);
  }

  size_t size() const { return size_; }
  bool overflowed() const { return overflowed_; }

 private:
  bool reserve(size_t n) {
    if (size_ + n > capacity_) overflowed_ = true;
    return !overflowed_;
  }

  uint8_t* data_;
  size_t capacity_;
  size_t size_ = 0;
  bool overflowed_ = false;
};

}  // namespace protocol::wire
