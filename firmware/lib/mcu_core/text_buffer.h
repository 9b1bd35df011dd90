// A fixed-capacity text builder for human-readable lines (banner, fault reports) without printf
// or the heap. Output past the capacity is dropped, never written out of bounds.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mcu {

class TextBuffer {
 public:
  TextBuffer(char* storage, size_t capacity) : data_(storage), capacity_(capacity) { clear(); }

  void clear();
  TextBuffer& str(const char* text);
  TextBuffer& dec(uint32_t value);
  TextBuffer& hex(uint32_t value);  ///< "0x" and 8 hex digits.
  /// `key=value ` pair, the banner's format.
  TextBuffer& kv(const char* key, const char* value);
  TextBuffer& kv(const char* key, uint32_t value);

  const char* c_str() const { return data_; }
  size_t size() const { return size_; }
  bool truncated() const { return truncated_; }

 private:
  void put(char c);

  char* data_;
  size_t capacity_;
  size_t size_ = 0;
  bool truncated_ = false;
};

}  // namespace mcu
