// Stack painting: fill the unused stack with a known word at reset, later count how much of it
// is still intact to learn the deepest stack use (the high-water mark).
#pragma once

#include <cstdint>

namespace mcu {

constexpr uint32_t kStackPaintWord = 0xC0DEC0DEu;

/// Fills [begin, end) with kStackPaintWord. `end` must be below the live stack pointer.
void stack_paint(uint32_t* begin, uint32_t* end);

/// Bytes of the stack [bottom, top) ever used: the stack grows down from `top`, so this is the
/// distance from `top` down to the first (lowest) word that no longer holds the paint.
uint32_t stack_used_bytes(const uint32_t* bottom, const uint32_t* top);

}  // namespace mcu
