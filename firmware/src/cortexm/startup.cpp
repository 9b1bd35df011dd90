// Reset handler and vector table for every Cortex-M target: enable the FPU, initialise .data and
// .bss, paint the stack, run static constructors, call main().
#include <cstdint>

#include "cortex_m.h"
#include "stack_paint.h"

extern "C" {
extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, __stack_bottom, __stack_top;
using InitFunction = void (*)();
extern InitFunction __init_array_start[], __init_array_end[];
int main();
void Reset_Handler();
void Default_Handler();
void NMI_Handler() __attribute__((weak, alias("Default_Handler")));
void HardFault_Handler();
void MemManage_Handler();
void BusFault_Handler();
void UsageFault_Handler();
void SVC_Handler() __attribute__((weak, alias("Default_Handler")));
void DebugMon_Handler() __attribute__((weak, alias("Default_Handler")));
void PendSV_Handler() __attribute__((weak, alias("Default_Handler")));
void SysTick_Handler();
}

using Handler = void (*)();

// The 16 architectural vectors. No peripheral interrupt is used: the UARTs are polled.
__attribute__((section(".isr_vector"), used)) const Handler kVectorTable[16] = {
    reinterpret_cast<Handler>(&__stack_top),
    Reset_Handler,
    NMI_Handler,
    HardFault_Handler,
    MemManage_Handler,
    BusFault_Handler,
    UsageFault_Handler,
    nullptr,
    nullptr,
    nullptr,
    nullptr,
    SVC_Handler,
    DebugMon_Handler,
    nullptr,
    PendSV_Handler,
    SysTick_Handler,
};

extern "C" __attribute__((noreturn)) void Reset_Handler() {
  // The FPU must be on before any code compiled for the hard-float ABI touches an FP register.
  cortexm::reg(cortexm::kScbCpacr) |= (0xFu << 20);
  __asm volatile("dsb\n isb" ::: "memory");

  for (uint32_t *src = &_sidata, *dst = &_sdata; dst < &_edata;) *dst++ = *src++;
  for (uint32_t* dst = &_sbss; dst < &_ebss;) *dst++ = 0;

  // Paint everything below the live frame; 64 bytes of margin covers this function's own frame.
  uint32_t* sp;
  __asm volatile("mov %0, sp" : "=r"(sp));
  mcu::stack_paint(&__stack_bottom, sp - 16);

  // Static constructors (newlib's __libc_init_array needs crti's _init, absent with -nostartfiles).
  for (InitFunction* init = __init_array_start; init < __init_array_end; ++init) (*init)();

  const int status = main();
  if (cortexm::kSemihosting) cortexm::semihosting_exit(status);
  for (;;) {
  }
}

extern "C" void Default_Handler() {
  const uint32_t frame[8] = {};
  cortexm::report_fault("UnexpectedIRQ", frame);
}
