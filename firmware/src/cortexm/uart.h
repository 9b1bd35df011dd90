// The primitives each Cortex-M target provides for its host-link UART. Transmission is polled;
// reception is interrupt-driven: the target's UART receive interrupt handler drains the receive
// register into a static ring buffer (rx_ring_push, board_common.cpp), so bytes keep arriving
// while the firmware computes, and board::read() takes them from the ring.
// board::write/read in board_common.cpp are built on them once for every target.
#pragma once

#include <cstddef>
#include <cstdint>

#include "board.h"

namespace board::detail {

/// Bytes of the receive ring: one maximum frame (max payload + header + CRC, COBS-encoded) with
/// room to spare for the next request and a delimiter. A power of two.
constexpr size_t kRxRingBytes =
#if defined(MCUTRAIN_UART_RX_RING_BYTES)
    MCUTRAIN_UART_RX_RING_BYTES;
#else
    4096;
#endif
static_assert(kRxRingBytes >= 256 && (kRxRingBytes & (kRxRingBytes - 1)) == 0, "ring size: a power of two");

void uart_init();                     ///< Enables the transmitter, the receiver and its interrupt.
void uart_put(uint8_t byte);          ///< Blocks until the transmitter takes the byte.
ResetReason read_reset_reason();      ///< From the target's reset-cause register, read once at init.
const Info& target_info();          ///< Static facts; clocks are final once uart_init() ran.

/// Called by the target's receive interrupt handler for every byte it takes from the UART.
/// Stores it in the ring; a byte that finds the ring full is dropped (a host that keeps at most
/// two requests in flight never fills it).
void rx_ring_push(uint8_t byte);

/// Enables external interrupt `irq` (0-based, after the 16 system exceptions) in the NVIC.
void nvic_enable(uint32_t irq);

}  // namespace board::detail
