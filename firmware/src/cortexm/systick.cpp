#include "cortex_m.h"

namespace {

constexpr uint32_t kSysTickCtrl = 0xE000E010u;
constexpr uint32_t kSysTickLoad = 0xE000E014u;
constexpr uint32_t kSysTickVal = 0xE000E018u;
constexpr uint32_t kCtrlEnable = 1u << 0, kCtrlTickInt = 1u << 1, kCtrlProcessorClock = 1u << 2;
constexpr uint32_t kReload = 0x00FFFFFFu;  // SysTick is 24 bits wide.

volatile uint32_t g_wraps = 0;  // Upper bits of the 64-bit counter, bumped by the interrupt.

}  // namespace

extern "C" void SysTick_Handler() { g_wraps = g_wraps + 1; }

namespace cortexm {

void systick_start() {
  reg(kSysTickLoad) = kReload;
  reg(kSysTickVal) = 0;
  reg(kSysTickCtrl) = kCtrlEnable | kCtrlTickInt | kCtrlProcessorClock;
}

uint64_t systick_counter() {
  // Read wraps, value, wraps again: if the interrupt ran in between, re-read so the pair is
  // consistent (the counter counts down, so elapsed = reload - value).
  uint32_t wraps, value;
  do {
    wraps = g_wraps;
    value = reg(kSysTickVal);
  } while (wraps != g_wraps);
  return (static_cast<uint64_t>(wraps) << 24) + (kReload - value);
}

}  // namespace cortexm
