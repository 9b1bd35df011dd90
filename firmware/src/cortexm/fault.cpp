// Fault handlers: report the faulting PC, LR and the fault status registers over the UART, then
// halt (under QEMU: exit with status 3 through semihosting, so a crash can never pass a test).
#include <cstdint>

#include "board.h"
#include "cortex_m.h"
#include "text_buffer.h"

namespace cortexm {

constexpr int kFaultExitCode = 3;

void report_fault(const char* kind, const uint32_t* frame) {
  char storage[160];
  mcu::TextBuffer line(storage, sizeof(storage));
  // Exception frame layout (ARMv7-M): r0 r1 r2 r3 r12 lr pc xpsr.
  line.str("\r\nFAULT ").str(kind);
  line.str(" pc=").hex(frame[6]).str(" lr=").hex(frame[5]).str(" xpsr=").hex(frame[7]);
  line.str(" cfsr=").hex(reg(kScbCfsr)).str(" hfsr=").hex(reg(kScbHfsr));
  line.str(" mmfar=").hex(reg(kScbMmfar)).str(" bfar=").hex(reg(kScbBfar)).str("\r\n");
  board::write(reinterpret_cast<const uint8_t*>(line.c_str()), line.size());
  board::halt(kFaultExitCode);
}

}  // namespace cortexm

// Each handler finds the exception frame on whichever stack was active (EXC_RETURN bit 2) and
// passes it to a C++ reporter.
#define MCUTRAIN_FAULT_HANDLER(handler, reporter)                                     \
  extern "C" void reporter(const uint32_t* frame);                                   \
  extern "C" __attribute__((naked)) void handler() {                                 \
    __asm volatile("tst lr, #4\n ite eq\n mrseq r0, msp\n mrsne r0, psp\n b " #reporter); \
  }

extern "C" void hardfault_report(const uint32_t* frame) { cortexm::report_fault("HardFault", frame); }
extern "C" void memmanage_report(const uint32_t* frame) { cortexm::report_fault("MemManage", frame); }
extern "C" void busfault_report(const uint32_t* frame) { cortexm::report_fault("BusFault", frame); }
extern "C" void usagefault_report(const uint32_t* frame) { cortexm::report_fault("UsageFault", frame); }

MCUTRAIN_FAULT_HANDLER(HardFault_Handler, hardfault_report)
MCUTRAIN_FAULT_HANDLER(MemManage_Handler, memmanage_report)
MCUTRAIN_FAULT_HANDLER(BusFault_Handler, busfault_report)
MCUTRAIN_FAULT_HANDLER(UsageFault_Handler, usagefault_report)
