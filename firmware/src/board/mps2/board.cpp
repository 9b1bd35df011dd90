// QEMU mps2-an500 (Cortex-M7): UART0 is a CMSDK APB UART at 0x40004000; its receive interrupt
// is external interrupt 0 (transmit 1, unused).
#include "cortex_m.h"
#include "uart.h"

namespace board::detail {

namespace {
constexpr uint32_t kUart0 = 0x40004000u;
constexpr uint32_t kData = kUart0 + 0x0u, kState = kUart0 + 0x4u, kCtrl = kUart0 + 0x8u;
constexpr uint32_t kIntClear = kUart0 + 0xCu, kBaudDiv = kUart0 + 0x10u;  // INTSTATUS / INTCLEAR
constexpr uint32_t kStateTxFull = 1u << 0, kStateRxFull = 1u << 1;
constexpr uint32_t kCtrlTxEnable = 1u << 0, kCtrlRxEnable = 1u << 1, kCtrlRxIntEnable = 1u << 3;
constexpr uint32_t kIntRx = 1u << 1;
constexpr uint32_t kUart0RxIrq = 0;
using cortexm::reg;
}  // namespace

// SysTick on the processor clock runs at the board's 25 MHz SYSCLK; under -icount shift=0 one
// instruction is 1 ns, so one tick is 40 instructions.
const Info& target_info() {
  static const Info info = {"qemu-m7", "cortex-m7", 25000000u, 25000000u};
  return info;
}

void uart_init() {
  reg(kBaudDiv) = 16;  // Any value >= 16 is valid; QEMU does not model the baud rate.
  reg(kCtrl) = kCtrlTxEnable | kCtrlRxEnable | kCtrlRxIntEnable;
  nvic_enable(kUart0RxIrq);
}

void uart_put(uint8_t byte) {
  while (reg(kState) & kStateTxFull) {
  }
  reg(kData) = byte;
}


// The MPS2 FPGA has no reset-cause register QEMU models.
ResetReason read_reset_reason() { return ResetReason::kPowerOn; }

}  // namespace board::detail

// UART0 receive: the interrupt status stays set until cleared, so clear it first, then take
// the byte (the UART holds one); the next byte can only arrive once it is read, and raises the
// interrupt again. Few register accesses: under QEMU each one takes the emulator's I/O lock.
extern "C" void Irq0_Handler() {
  using namespace board::detail;
  reg(kIntClear) = kIntRx;
  if (reg(kState) & kStateRxFull) rx_ring_push(static_cast<uint8_t>(reg(kData)));
}
