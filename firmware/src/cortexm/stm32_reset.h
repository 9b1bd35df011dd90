// Reset cause from RCC_CSR, laid out identically on STM32F4 and STM32F7.
#pragma once

#include "board.h"
#include "cortex_m.h"

namespace cortexm {

inline board::ResetReason stm32_read_reset_reason(uint32_t rcc_csr_address) {
  const uint32_t csr = reg(rcc_csr_address);
  reg(rcc_csr_address) = csr | (1u << 24);  // RMVF: clear the flags for the next boot.
  if (csr & ((1u << 29) | (1u << 30))) return board::ResetReason::kWatchdog;  // IWDG, WWDG
  if (csr & (1u << 28)) return board::ResetReason::kSoftware;
  if (csr & (1u << 27)) return board::ResetReason::kPowerOn;
  if (csr & (1u << 25)) return board::ResetReason::kBrownOut;
  if (csr & (1u << 26)) return board::ResetReason::kPin;
  return board::ResetReason::kUnknown;  // e.g. under QEMU, where the RCC reads as zero.
}

}  // namespace cortexm
