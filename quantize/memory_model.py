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
# The stack the linker scripts reserve (firmware/ld/*.ld __stack_size) on every board: the image's
# static RAM plus this must fit the RAM region to link, whatever the stack actually reaches.
LINKER_STACK_BYTES = 16 * 1024
ALIGNMENT = 16         # the generated arena and trainable arrays are 16-byte aligned (quantize/codegen.py)


@dataclass(frozen=True)
class FirmwareMemory:
    static_bytes: int       # .data + .bss of the firmware without the model's arena and trainable copy
    stack_bytes: int        # the deepest stack of a training step (a bound, measured)


# Measured 2026-12-02 with ref and its demo plan: static RAM 69,936 bytes on both emulated boards
# (8,672 without the 46,944-byte arena and the 14,320-byte trainable copy), stack high-water
# 1,592 (qemu-m7) and 1,616 (qemu-stm32f405) bytes after training steps; the STM32F746 build's
# static RAM is 16 bytes larger (its clock set-up), its stack not measurable here (no emulator).
# mbv2-w0.35-128 with its sparse plan reaches 3,084 bytes of stack on qemu-m7 and 3,176 on
# qemu-stm32f405 (its row chain recurses through six stages): the bound is above both, so that a
# prediction does not promise less than the device takes, and within PEAK_TOLERANCE of ref's.
FIRMWARE_MEMORY = {
    "qemu-m7": FirmwareMemory(static_bytes=8672, stack_bytes=3200),
    "qemu-stm32f405": FirmwareMemory(static_bytes=8672, stack_bytes=3200),
    "stm32f746g-disco": FirmwareMemory(static_bytes=8688, stack_bytes=3200),
}


def _aligned(size: int) -> int:
    return (max(size, ALIGNMENT) + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT


def predicted_peak_sram(board: str, arena_bytes: int, trainable_bytes: int) -> int:
    """Bytes of SRAM a training step on `board` uses with this arena and trainable region."""
    firmware = FIRMWARE_MEMORY[board]
    return firmware.static_bytes + _aligned(arena_bytes) + _aligned(trainable_bytes) + firmware.stack_bytes


def linked_ram(board: str, arena_bytes: int, trainable_bytes: int) -> int:
    """Bytes of the RAM region the linker needs for this arena and trainable region: the static data
    and the reserved stack (LINKER_STACK_BYTES), more than a step's peak."""
    firmware = FIRMWARE_MEMORY[board]
    return firmware.static_bytes + _aligned(arena_bytes) + _aligned(trainable_bytes) + LINKER_STACK_BYTES


def arena_peak_time(plan) -> int:
    """The time (forward op index, or num_ops + 1 + k for backward step k) at which the arena's
    live buffers reach highest (quantize/memory_plan.py MemoryPlan)."""
    reach: dict[int, int] = {}
    for buf in plan.buffers:
        top = plan.offsets[buf.name] + buf.size
        for time in range(buf.first_use, buf.last_use + 1):
            reach[time] = max(reach.get(time, 0), top)
    return max(reach, key=lambda time: (reach[time], -time)) if reach else 0


def arena_peak_place(lowered) -> str:
    """Where a lowered model's arena peaks, for messages: "forward op 3 (CONV_2D)", "the loss" or
    "backward step 2"."""
    time = arena_peak_time(lowered.plan)
    ops = len(lowered.op_names)
    return (f"forward op {time} ({lowered.op_names[time]})" if 0 <= time < ops
            else "the loss" if time == ops else f"backward step {time - ops - 1}")


def check_fits(board: str, ram_budget: int, lowered, where: str) -> None:
    """Refuses (PlanError, one line) a compiled model whose training step would not fit the
    board's SRAM budget, naming where the arena peaks and every part of the sum."""
    from quantize.blob import read_header
    from quantize.errors import PlanError

    header = read_header(lowered.blob)
    arena, trainable = header["arena_size"], header["trainable_size"]
    peak = predicted_peak_sram(board, arena, trainable)
    if peak <= ram_budget:
        return
    firmware = FIRMWARE_MEMORY[board]
    raise PlanError(f"{where}: a training step would take {peak} bytes of SRAM on {board}, over its {ram_budget}-byte "
                    f"budget: arena {arena} (peaking at {arena_peak_place(lowered)}), trainable {trainable}, firmware "
                    f"{firmware.static_bytes} and stack {firmware.stack_bytes}")
