#include "stack_paint.h"

namespace mcu {

void stack_paint(uint32_t* begin, uint32_t* end) {
  // volatile: the compiler must not turn this into a memset call that itself uses the stack
  // region being painted, nor drop stores to memory nothing reads yet.
  for (volatile uint32_t* word = begin; word < end; ++word) *word = kStackPaintWord;
}

uint32_t stack_used_bytes(const uint32_t* bottom, const uint32_t* top) {
  const volatile uint32_t* word = bottom;
  while (word < top && *word == kStackPaintWord) ++word;
  return static_cast<uint32_t>(reinterpret_cast<uintptr_t>(top) - reinterpret_cast<uintptr_t>(word));
}

}  // namespace mcu
