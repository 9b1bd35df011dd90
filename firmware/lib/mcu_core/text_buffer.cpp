#include "text_buffer.h"

namespace mcu {

void TextBuffer::clear() {
  size_ = 0;
  truncated_ = false;
  if (capacity_ > 0) data_[0] = '\0';
}

void TextBuffer::put(char c) {
  // One byte is always kept for the terminating NUL.
  if (size_ + 1 >= capacity_) {
    truncated_ = true;
    return;
  }
  data_[size_++] = c;
  data_[size_] = '\0';
}

TextBuffer& TextBuffer::str(const char* text) {
  while (*text != '\0') put(*text++);
  return *this;
}

TextBuffer& TextBuffer::dec(uint32_t value) {
  char digits[10];
  int count = 0;
  do {
    digits[count++] = static_cast<char>('0' + value % 10u);
    value /= 10u;
  } while (value != 0);
  while (count > 0) put(digits[--count]);
  return *this;
}

TextBuffer& TextBuffer::hex(uint32_t value) {
  static constexpr char kDigits[] = "0123456789abcdef";
  str("0x");
  for (int shift = 28; shift >= 0; shift -= 4) put(kDigits[(value >> shift) & 0xFu]);
  return *this;
}

TextBuffer& TextBuffer::kv(const char* key, const char* value) {
  return str(key).str("=").str(value).str(" ");
}

TextBuffer& TextBuffer::kv(const char* key, uint32_t value) { return str(key).str("=").dec(value).str(" "); }

}  // namespace mcu
