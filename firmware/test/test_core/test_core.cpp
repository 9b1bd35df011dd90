// Unit tests of firmware/lib/mcu_core (portable code shared by every target).
#include <cstdint>
#include <cstring>

#include "../unit_test.h"
#include "crc32.h"
#include "stack_paint.h"
#include "text_buffer.h"

static void test_crc32_check_value() {
  // The CRC-32/ISO-HDLC check value, also zlib.crc32(b"123456789").
  const char* text = "123456789";
  EXPECT_EQ_U32(0xCBF43926u, mcu::crc32(reinterpret_cast<const uint8_t*>(text), 9));
}

static void test_crc32_chains_across_chunks() {
  const uint8_t data[] = {0x00, 0xFF, 0x10, 0x80, 0x7F, 0x01, 0x02};
  const uint32_t whole = mcu::crc32(data, sizeof(data));
  const uint32_t chained = mcu::crc32_update(mcu::crc32(data, 3), data + 3, sizeof(data) - 3);
  EXPECT_EQ_U32(whole, chained);
  EXPECT_EQ_U32(0u, mcu::crc32(data, 0));
}

static void test_stack_used_counts_from_first_dirty_word() {
  uint32_t stack[64];
  mcu::stack_paint(stack, stack + 64);
  EXPECT_EQ_U32(0u, mcu::stack_used_bytes(stack, stack + 64));
  stack[40] = 0;  // deepest use: word 40, so words 40..63 count as used
  stack[60] = 0;
  EXPECT_EQ_U32(24u * 4u, mcu::stack_used_bytes(stack, stack + 64));
  stack[0] = 1;  // overflowed to the bottom
  EXPECT_EQ_U32(64u * 4u, mcu::stack_used_bytes(stack, stack + 64));
}

static void test_text_buffer_formats_numbers() {
  char storage[64];
  mcu::TextBuffer text(storage, sizeof(storage));
  text.dec(0).str(" ").dec(4294967295u).str(" ").hex(0xDEADBEEFu).str(" ").kv("ram", 262144u);
  EXPECT_STREQ("0 4294967295 0xdeadbeef ram=262144 ", text.c_str());
  EXPECT_TRUE(!text.truncated());
}

static void test_text_buffer_truncates_without_overflow() {
  char storage[9];
  std::memset(storage, 'X', sizeof(storage));
  mcu::TextBuffer text(storage, 8);
  text.str("0123456789");
  EXPECT_STREQ("0123456", text.c_str());
  EXPECT_EQ_U32(7u, text.size());
  EXPECT_TRUE(text.truncated());
  EXPECT_TRUE(storage[8] == 'X');  // the byte past the capacity is untouched
}

int main() {
  RUN_TEST(test_crc32_check_value);
  RUN_TEST(test_crc32_chains_across_chunks);
  RUN_TEST(test_stack_used_counts_from_first_dirty_word);
  RUN_TEST(test_text_buffer_formats_numbers);
  RUN_TEST(test_text_buffer_truncates_without_overflow);
  return unit_test::finish();
}
