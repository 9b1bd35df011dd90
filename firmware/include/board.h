// The board interface: everything the firmware needs from a target, one implementation per
// target in src/board/<target>/ (mps2 = QEMU mps2-an500, stm32f4 = STM32F405 as QEMU's
// netduinoplus2, stm32f7 = STM32F746G-DISCO, native = the host, for tests).
#pragma once

#include <cstddef>
#include <cstdint>

namespace board {

enum class ResetReason : uint8_t { kPowerOn, kPin, kSoftware, kWatchdog, kBrownOut, kUnknown };

/// Static facts about the target, reported in the boot banner and INFO.
struct Info {
  const char* name;        ///< PlatformIO environment name, e.g. "qemu-m7".
  const char* cpu;         ///< Core, e.g. "cortex-m7".
  uint32_t core_clock_hz;  ///< CPU clock the firmware runs at (as modelled, under QEMU).
  uint32_t counter_hz;     ///< Rate of counter(): CPU cycles on silicon; under QEMU with
                           ///< -icount shift=0, one guest instruction is 1 ns of virtual
                           ///< time, so instructions = ticks * 1e9 / counter_hz.
};

/// SRAM accounting from the linker script (all zero on the host build).
struct MemoryInfo {
  uint32_t ram_budget_bytes;  ///< Length of the RAM region the linker enforces.
  uint32_t static_ram_bytes;  ///< .data + .bss.
  uint32_t stack_bytes;       ///< Size of the stack section.
};

/// Brings up the UART and the counter. Call once, first thing in main().
void init();

const Info& info();
MemoryInfo memory();

/// Deepest stack use since boot, in bytes (the stack is painted at reset).
uint32_t stack_high_water_bytes();

/// Blocking write of `size` bytes to the host link (UART).
void write(const uint8_t* data, size_t size);

/// Reads up to `size` bytes, returning early once at least one byte has arrived and the line
/// has been idle, or after `timeout_ms` with whatever arrived (possibly 0).
size_t read(uint8_t* data, size_t size, uint32_t timeout_ms);

/// Free-running 64-bit tick counter at info().counter_hz.
uint64_t counter();

ResetReason reset_reason();
const char* reset_reason_name(ResetReason reason);

/// Stops the firmware. Under emulation the process exits with `exit_code` (semihosting);
/// on silicon the core spins so the last message stays readable.
[[noreturn]] void halt(int exit_code);

}  // namespace board
