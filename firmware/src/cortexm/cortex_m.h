// Cortex-M core registers and helpers shared by every Cortex-M target (System Control Block,
// SysTick, semihosting). Addresses are architectural (ARMv7-M), identical on M4 and M7.
#pragma once

#include <cstdint>

namespace cortexm {

inline volatile uint32_t& reg(uint32_t address) { return *reinterpret_cast<volatile uint32_t*>(address); }

constexpr uint32_t kScbCpacr = 0xE000ED88u;  // Coprocessor access control (FPU enable).
constexpr uint32_t kScbCfsr = 0xE000ED28u;   // Configurable fault status.
constexpr uint32_t kScbHfsr = 0xE000ED2Cu;   // HardFault status.
constexpr uint32_t kScbMmfar = 0xE000ED34u;  // MemManage fault address.
constexpr uint32_t kScbBfar = 0xE000ED38u;   // BusFault address.
constexpr uint32_t kScbAircr = 0xE000ED0Cu;  // Application interrupt and reset control.

/// Starts SysTick as a free-running 24-bit down-counter on the processor clock, extended to 64
/// bits in its interrupt (see counter()).
void systick_start();
uint64_t systick_counter();

/// True when a debugger or QEMU services semihosting calls (set at build time for emulators).
constexpr bool kSemihosting =
#if defined(MCUTRAIN_SEMIHOSTING)
    true;
#else
    false;
#endif

/// Ends the QEMU process with `code` as its exit status (SYS_EXIT_EXTENDED). Only valid when
/// kSemihosting: on silicon without a debugger the BKPT would itself fault.
[[noreturn]] void semihosting_exit(int code);

/// Writes the whole fault report line for the stacked exception frame and halts with exit code 3.
[[noreturn]] void report_fault(const char* kind, const uint32_t* frame);

/// The linker-script symbols the memory accounting is computed from.
uint32_t ram_budget_bytes();
uint32_t static_ram_bytes();
uint32_t stack_bytes();
uint32_t stack_used_bytes();

}  // namespace cortexm
