"""The SRAM a training step takes on a board, predicted from the compiled blob: the firmware's own
static data (protocol buffers, the UART ring, board state), the activation arena the memory plan
sized (forward, backward and kernel scratch together), the SRAM copy of the trainable region,
and a bound of the stack. The device measures the same sum (INFO's peak SRAM: static RAM plus
the stack's high-water mark); tests/test_training_memory.py holds the two within PEAK_TOLERANCE.

The firmware's own figures per board are measured from its build (`mcutrain build`: static RAM
minus the model's arena and trainable copy) and its deepest stack during a training step; they
change when the firmware does, and the test says by how much.
"""

from __future__ import annotations

from dataclasses import dataclass

PEAK_TOLERANCE = 2048  # bytes the prediction may differ from the device's measurement
ALIGNMENT = 16         # the generated arena and trainable arrays are 16-byte aligned (quantize/codegen.py)


@dataclass(frozen=True)
class FirmwareMemory:
    static_bytes: int       # .data + .bss of the firmware without the model's arena and trainable copy
    stack_bytes: int        # the deepest stack of a training step (a bound, measured)


# Measured 2026-12-02 with ref and its demo plan: static RAM 69,936 bytes on both emulated boards
# (8,672 without the 46,944-byte arena and the 14,320-byte trainable copy), stack high-water
# 1,592 (qemu-m7) and 1,616 (qemu-stm32f405) bytes after training steps; the STM32F746 build's
# static RAM is 16 bytes larger (its clock set-up), its stack not measurable here (no emulator).
FIRMWARE_MEMORY = {
    "qemu-m7": FirmwareMemory(static_bytes=8672, stack_bytes=1664),
    "qemu-stm32f405": FirmwareMemory(static_bytes=8672, stack_bytes=1664),
    "stm32f746g-disco": FirmwareMemory(static_bytes=8688, stack_bytes=1664),
}


def _aligned(size: int) -> int:
    return (max(size, ALIGNMENT) + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT


def predicted_peak_sram(board: str, arena_bytes: int, trainable_bytes: int) -> int:
    """Bytes of SRAM a training step on `board` uses with this arena and trainable region."""
    firmware = FIRMWARE_MEMORY[board]
    return firmware.static_bytes + _aligned(arena_bytes) + _aligned(trainable_bytes) + firmware.stack_bytes
