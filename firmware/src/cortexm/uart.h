// The three primitives each Cortex-M target provides for its host-link UART (polled, no IRQ).
// board::write/read in board_common.cpp are built on them once for every target.
#pragma once

#include <cstdint>

#include "board.h"

namespace board::detail {

void uart_init();
void uart_put(uint8_t byte);          ///< Blocks until the transmitter takes the byte.
bool uart_try_get(uint8_t& byte);     ///< Non-blocking: true and the byte when one is waiting.
ResetReason read_reset_reason();      ///< From the target's reset-cause register, read once at init.
const Info& target_info();          ///< Static facts; clocks are final once uart_init() ran.

}  // namespace board::detail
