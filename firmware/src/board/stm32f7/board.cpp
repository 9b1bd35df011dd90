// STM32F746G-DISCO: 216 MHz from the 25 MHz HSE through the PLL (with over-drive, 7 flash wait
// states), USART1 (PA9 TX / PB7 RX, AF7) on the ST-LINK virtual COM port, 115200 8N1; its
// interrupt (external interrupt 37) takes the received bytes.
// This target has no emulator in QEMU 7.2: it is built in CI, and runs only on the real board.
#include "cortex_m.h"
#include "stm32_reset.h"
#include "uart.h"

namespace board::detail {

namespace {
using cortexm::reg;
constexpr uint32_t kRcc = 0x40023800u;
constexpr uint32_t kRccCr = kRcc + 0x00u, kRccPllCfgr = kRcc + 0x04u, kRccCfgr = kRcc + 0x08u;
constexpr uint32_t kRccAhb1Enr = kRcc + 0x30u, kRccApb1Enr = kRcc + 0x40u, kRccApb2Enr = kRcc + 0x44u;
constexpr uint32_t kRccCsr = kRcc + 0x74u;
constexpr uint32_t kPwrCr1 = 0x40007000u, kPwrCsr1 = 0x40007004u;
constexpr uint32_t kFlashAcr = 0x40023C00u;
constexpr uint32_t kGpioA = 0x40020000u, kGpioB = 0x40020400u;
constexpr uint32_t kGpioModer = 0x00u, kGpioAfrl = 0x20u, kGpioAfrh = 0x24u;
constexpr uint32_t kUsart1 = 0x40011000u;
constexpr uint32_t kCr1 = kUsart1 + 0x00u, kBrr = kUsart1 + 0x0Cu, kIsr = kUsart1 + 0x1Cu;
constexpr uint32_t kIcr = kUsart1 + 0x20u, kRdr = kUsart1 + 0x24u, kTdr = kUsart1 + 0x28u;
constexpr uint32_t kIsrOre = 1u << 3, kIsrRxne = 1u << 5, kIsrTxe = 1u << 7;
constexpr uint32_t kCr1Rxneie = 1u << 5;
constexpr uint32_t kUsart1Irq = 37;
constexpr uint32_t kBaud = 115200u;
constexpr uint32_t kHsiHz = 16000000u, kPllHz = 216000000u;
// Bounded waits: a board without a working HSE falls back to the 16 MHz HSI instead of hanging.
constexpr uint32_t kReadyPolls = 1000000u;

bool wait_set(uint32_t address, uint32_t mask) {
  for (uint32_t i = 0; i < kReadyPolls; ++i)
    if ((reg(address) & mask) == mask) return true;
  return false;
}

// Returns the resulting core clock.
uint32_t clock_init() {
  reg(kRccCr) |= 1u << 16;                         // HSEON
  if (!wait_set(kRccCr, 1u << 17)) return kHsiHz;  // HSERDY
  reg(kRccApb1Enr) |= 1u << 28;                    // PWREN
  // PLL: 25 MHz / M=25 * N=432 / P=2 = 216 MHz; Q=9 gives 48 MHz for USB.
  reg(kRccPllCfgr) = 25u | (432u << 6) | (0u << 16) | (1u << 22) | (9u << 24);
  reg(kRccCr) |= 1u << 24;                         // PLLON
  if (!wait_set(kRccCr, 1u << 25)) return kHsiHz;  // PLLRDY
  reg(kPwrCr1) |= 1u << 16;                        // ODEN: over-drive, needed above 180 MHz
  if (!wait_set(kPwrCsr1, 1u << 16)) return kHsiHz;
  reg(kPwrCr1) |= 1u << 17;                        // ODSWEN
  if (!wait_set(kPwrCsr1, 1u << 17)) return kHsiHz;
  reg(kFlashAcr) = 7u | (1u << 8) | (1u << 9);     // 7 wait states, prefetch, ART accelerator
  // AHB /1, APB1 /4 (54 MHz), APB2 /2 (108 MHz), system clock from the PLL.
  reg(kRccCfgr) = (reg(kRccCfgr) & ~0xFCF3u) | (5u << 10) | (4u << 13) | 2u;
  if (!wait_set(kRccCfgr, 2u << 2)) return kHsiHz;
  return kPllHz;
}

Info g_info = {"stm32f746g-disco", "cortex-m7", kHsiHz, kHsiHz};
}  // namespace

const Info& target_info() { return g_info; }

void uart_init() {
  const uint32_t core_hz = clock_init();
  g_info.core_clock_hz = core_hz;
  g_info.counter_hz = core_hz;
  const uint32_t pclk2_hz = core_hz == kPllHz ? core_hz / 2 : core_hz;

  reg(kRccAhb1Enr) |= (1u << 0) | (1u << 1);  // GPIOA, GPIOB
  reg(kRccApb2Enr) |= 1u << 4;                // USART1
  // PA9 (TX) and PB7 (RX) -> alternate function 7.
  reg(kGpioA + kGpioModer) = (reg(kGpioA + kGpioModer) & ~(3u << 18)) | (2u << 18);
  reg(kGpioA + kGpioAfrh) = (reg(kGpioA + kGpioAfrh) & ~(0xFu << 4)) | (7u << 4);
  reg(kGpioB + kGpioModer) = (reg(kGpioB + kGpioModer) & ~(3u << 14)) | (2u << 14);
  reg(kGpioB + kGpioAfrl) = (reg(kGpioB + kGpioAfrl) & ~(0xFu << 28)) | (7u << 28);
  reg(kBrr) = (pclk2_hz + kBaud / 2) / kBaud;
  reg(kCr1) = (1u << 0) | (1u << 2) | (1u << 3) | kCr1Rxneie;  // UE, RE, TE, RXNEIE
  nvic_enable(kUsart1Irq);
}

void uart_put(uint8_t byte) {
  while (!(reg(kIsr) & kIsrTxe)) {
  }
  reg(kTdr) = byte;
}

ResetReason read_reset_reason() { return cortexm::stm32_read_reset_reason(kRccCsr); }

}  // namespace board::detail

// USART1: an overrun also raises this interrupt and stalls reception until cleared; reading
// RDR clears RXNE.
extern "C" void Irq37_Handler() {
  using namespace board::detail;
  if (reg(kIsr) & kIsrOre) reg(kIcr) = kIsrOre;
  while (reg(kIsr) & kIsrRxne) rx_ring_push(static_cast<uint8_t>(reg(kRdr)));
}
