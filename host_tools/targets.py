"""The firmware targets: PlatformIO environment, emulator machine and SRAM budget of each.

The names are an interface (CLI `--board`, tests, benchmarks): they equal the PlatformIO
environment names in platformio.ini.
"""

from __future__ import annotations

from dataclasses import dataclass

from host_tools.errors import McutrainError


@dataclass(frozen=True)
class Target:
    name: str                 # PlatformIO environment, also the CLI's --board value
    description: str
    ram_budget_bytes: int     # the linker script's RAM region
    qemu_machine: str | None  # None: real hardware only

    @property
    def emulated(self) -> bool:
        return self.qemu_machine is not None


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("qemu-m7", "Cortex-M7 on QEMU mps2-an500", 256 * 1024, "mps2-an500"),
        Target("qemu-stm32f405", "STM32F405 on QEMU netduinoplus2", 192 * 1024, "netduinoplus2"),
        Target("stm32f746g-disco", "STM32F746G-DISCO board", 256 * 1024, None),
        Target("native", "host build of the portable code (unit tests)", 0, None),
    )
}

EMULATED = [t.name for t in TARGETS.values() if t.emulated]
FIRMWARE = [name for name in TARGETS if name != "native"]


def get_target(name: str) -> Target:
    try:
        return TARGETS[name]
    except KeyError:
        raise McutrainError(f"unknown board {name!r}: expected one of {', '.join(TARGETS)}") from None


def get_emulated_target(name: str) -> Target:
    target = get_target(name)
    if not target.emulated:
        emulated = ", ".join(EMULATED)
        raise McutrainError(f"board {name!r} has no emulator: expected one of {emulated}")
    return target
