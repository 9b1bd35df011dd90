// The parts of the board interface that are the same on every Cortex-M target.
#include "board.h"
#include "cortex_m.h"
#include "uart.h"

namespace board {

namespace {
ResetReason g_reset_reason = ResetReason::kUnknown;

// The receive ring: the UART interrupt writes at g_rx_head, read() takes from g_rx_tail. Both
// indices run freely (wrapping at 2^32) and are masked on access; each has exactly one writer,
// and 32-bit loads and stores are atomic on Cortex-M, so no lock is needed.
uint8_t g_rx_ring[detail::kRxRingBytes];
volatile uint32_t g_rx_head = 0;
volatile uint32_t g_rx_tail = 0;
constexpr uint32_t kRxMask = static_cast<uint32_t>(detail::kRxRingBytes - 1);

bool rx_ring_pop(uint8_t& byte) {
  const uint32_t tail = g_rx_tail;
  if (tail == g_rx_head) return false;
  byte = g_rx_ring[tail & kRxMask];
  __asm volatile("dmb" ::: "memory");  // the byte is read before the slot is handed back
  g_rx_tail = tail + 1;
  return true;
}

constexpr uint32_t kIdleSpins = 256;  // ring checks between two clock readings while idle
constexpr uint32_t kNvicIser = 0xE000E100u;  // Interrupt set-enable registers, 32 lines each.
}  // namespace

namespace detail {

void rx_ring_push(uint8_t byte) {
  const uint32_t head = g_rx_head;
  if (head - g_rx_tail >= kRxRingBytes) return;  // full: the frame fails its CRC, the host resends
  g_rx_ring[head & kRxMask] = byte;
  __asm volatile("dmb" ::: "memory");  // the byte is stored before the reader can see it
  g_rx_head = head + 1;
}

void nvic_enable(uint32_t irq) { cortexm::reg(kNvicIser + 4u * (irq / 32u)) = 1u << (irq % 32u); }

}  // namespace detail

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
    if (rx_ring_pop(byte)) {
      data[count++] = byte;
      continue;
    }
    // Nothing waiting: return what has arrived, or keep waiting until the timeout (the interrupt
    // keeps filling the ring meanwhile).
    if (count > 0) break;
    // Look at the ring a while before reading the clock: every SysTick read is a peripheral
    // access, which under QEMU competes for the lock the emulator's I/O thread needs to hand
    // the UART its next byte.
    for (uint32_t spin = 0; spin < kIdleSpins && g_rx_tail == g_rx_head; ++spin) {
    }
    if (g_rx_tail == g_rx_head && counter() - start >= timeout_ticks) break;
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
