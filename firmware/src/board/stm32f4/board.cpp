// STM32F405 as QEMU's netduinoplus2: USART1 (PA9 TX / PA10 RX, AF7) at 0x40011000, the board's
// first serial port; its interrupt (external interrupt 37) takes the received bytes.
// QEMU does not model the RCC: the enable bits below are plain writes (harmless there, needed on
// silicon), and nothing waits for a clock-ready flag, which would hang under QEMU. The core runs
// on its reset clock; QEMU models the SoC's 168 MHz system clock.
#include "cortex_m.h"
#include "stm32_reset.h"
#include "uart.h"

namespace board::detail {

namespace {
constexpr uint32_t kRcc = 0x40023800u;
constexpr uint32_t kRccAhb1Enr = kRcc + 0x30u, kRccApb2Enr = kRcc + 0x44u, kRccCsr = kRcc + 0x74u;
constexpr uint32_t kGpioA = 0x40020000u;
constexpr uint32_t kGpioModer = 0x00u, kGpioAfrh = 0x24u;
constexpr uint32_t kUsart1 = 0x40011000u;
constexpr uint32_t kSr = kUsart1 + 0x00u, kDr = kUsart1 + 0x04u, kBrr = kUsart1 + 0x08u, kCr1 = kUsart1 + 0x0Cu;
constexpr uint32_t kSrRxne = 1u << 5, kSrTxe = 1u << 7;
constexpr uint32_t kCr1Re = 1u << 2, kCr1Te = 1u << 3, kCr1Rxneie = 1u << 5, kCr1Ue = 1u << 13;
constexpr uint32_t kUsart1Irq = 37;
constexpr uint32_t kResetClockHz = 16000000u;  // HSI
constexpr uint32_t kBaud = 115200u;
using cortexm::reg;
}  // namespace

const Info& target_info() {
  static const Info info = {"qemu-stm32f405", "cortex-m4", 168000000u, 168000000u};
  return info;
}

void uart_init() {
  reg(kRccAhb1Enr) |= 1u << 0;  // GPIOA
  reg(kRccApb2Enr) |= 1u << 4;  // USART1
  // PA9, PA10 -> alternate function 7 (USART1).
  reg(kGpioA + kGpioModer) = (reg(kGpioA + kGpioModer) & ~(0xFu << 18)) | (0xAu << 18);
  reg(kGpioA + kGpioAfrh) = (reg(kGpioA + kGpioAfrh) & ~(0xFFu << 4)) | (0x77u << 4);
  reg(kBrr) = (kResetClockHz + kBaud / 2) / kBaud;
  reg(kCr1) = kCr1Ue | kCr1Te | kCr1Re | kCr1Rxneie;
  nvic_enable(kUsart1Irq);
}

void uart_put(uint8_t byte) {
  while (!(reg(kSr) & kSrTxe)) {
  }
  reg(kDr) = byte;
}

ResetReason read_reset_reason() { return cortexm::stm32_read_reset_reason(kRccCsr); }

}  // namespace board::detail

// USART1: reading SR then DR clears RXNE (and an overrun flag with it).
extern "C" void Irq37_Handler() {
  using namespace board::detail;
  while (reg(kSr) & kSrRxne) rx_ring_push(static_cast<uint8_t>(reg(kDr)));
}
