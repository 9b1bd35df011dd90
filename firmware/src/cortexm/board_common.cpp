// The parts of the board interface that are the same on every Cortex-M target.
#include "board.h"
#include "cortex_m.h"
#include "uart.h"

namespace board {

namespace {
ResetReason g_reset_reason = ResetReason::kUnknown;
}  // namespace

void init() {
  g_reset_reason = detail::read_reset_reason();
  detail::uart_init();  // also brings up the target's clocks
  cortexm::systick_start();
}

const Info& info() { return detail::target_info(); }

MemoryInfo memory() {
  return {cortexm::ram_budget_bytes(), cortexm::static_ram_bytes(), cortexm::stack_bytes()};
}

uint32_t stack_high_water_bytes() { return cortexm::stack_used_bytes(); }

void write(const uint8_t* data, size_t size) {
  for (size_t i = 0; i < size; ++i) detail::uart_put(data[i]);
}

size_t read(uint8_t* data, size_t size, uint32_t timeout_ms) {
  const uint64_t start = counter();
  const uint64_t timeout_ticks = static_cast<uint64_t>(timeout_ms) * (info().counter_hz / 1000u);
  size_t count = 0;
  while (count < size) {
    uint8_t byte;
    if (detail::uart_try_get(byte)) {
      data[count++] = byte;
      continue;
    }
    // Nothing waiting: return what has arrived, or keep waiting until the timeout.
    if (count > 0 || counter() - start >= timeout_ticks) break;
  }
  return count;
}

uint64_t counter() { return cortexm::systick_counter(); }

ResetReason reset_reason() { return g_reset_reason; }

void halt(int exit_code) {
  if (cortexm::kSemihosting) cortexm::semihosting_exit(exit_code);
  for (;;) {
  }
}

}  // namespace board
