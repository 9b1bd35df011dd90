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

// External interrupts 0..kExternalIrqs-1: IrqN_Handler, weak aliases of Default_Handler (an
// interrupt nobody enabled reports itself as a fault); a target defines the one it enables
// (its UART's receive interrupt) with a strong definition of the same name.
#define MCUTRAIN_IRQ(n) void Irq##n##_Handler() __attribute__((weak, alias("Default_Handler")));
#define MCUTRAIN_IRQ10(n) MCUTRAIN_IRQ(n##0) MCUTRAIN_IRQ(n##1) MCUTRAIN_IRQ(n##2) MCUTRAIN_IRQ(n##3) \
  MCUTRAIN_IRQ(n##4) MCUTRAIN_IRQ(n##5) MCUTRAIN_IRQ(n##6) MCUTRAIN_IRQ(n##7) MCUTRAIN_IRQ(n##8) MCUTRAIN_IRQ(n##9)
MCUTRAIN_IRQ(0) MCUTRAIN_IRQ(1) MCUTRAIN_IRQ(2) MCUTRAIN_IRQ(3) MCUTRAIN_IRQ(4)
MCUTRAIN_IRQ(5) MCUTRAIN_IRQ(6) MCUTRAIN_IRQ(7) MCUTRAIN_IRQ(8) MCUTRAIN_IRQ(9)
MCUTRAIN_IRQ10(1) MCUTRAIN_IRQ10(2) MCUTRAIN_IRQ10(3) MCUTRAIN_IRQ10(4) MCUTRAIN_IRQ10(5)
MCUTRAIN_IRQ(60) MCUTRAIN_IRQ(61) MCUTRAIN_IRQ(62) MCUTRAIN_IRQ(63)
#undef MCUTRAIN_IRQ10
#undef MCUTRAIN_IRQ
}

using Handler = void (*)();

constexpr int kExternalIrqs = 64;  // covers the UART receive lines: mps2 0, STM32 USART1 37

// The 16 architectural vectors, then the first kExternalIrqs external interrupts. The only
// peripheral interrupt enabled is the host-link UART's receive interrupt (uart.h).
__attribute__((section(".isr_vector"), used)) const Handler kVectorTable[16 + kExternalIrqs] = {
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
#define MCUTRAIN_IRQ(n) Irq##n##_Handler,
#define MCUTRAIN_IRQ10(n) MCUTRAIN_IRQ(n##0) MCUTRAIN_IRQ(n##1) MCUTRAIN_IRQ(n##2) MCUTRAIN_IRQ(n##3) \
  MCUTRAIN_IRQ(n##4) MCUTRAIN_IRQ(n##5) MCUTRAIN_IRQ(n##6) MCUTRAIN_IRQ(n##7) MCUTRAIN_IRQ(n##8) MCUTRAIN_IRQ(n##9)
    MCUTRAIN_IRQ(0) MCUTRAIN_IRQ(1) MCUTRAIN_IRQ(2) MCUTRAIN_IRQ(3) MCUTRAIN_IRQ(4)
    MCUTRAIN_IRQ(5) MCUTRAIN_IRQ(6) MCUTRAIN_IRQ(7) MCUTRAIN_IRQ(8) MCUTRAIN_IRQ(9)
    MCUTRAIN_IRQ10(1) MCUTRAIN_IRQ10(2) MCUTRAIN_IRQ10(3) MCUTRAIN_IRQ10(4) MCUTRAIN_IRQ10(5)
    MCUTRAIN_IRQ(60) MCUTRAIN_IRQ(61) MCUTRAIN_IRQ(62) MCUTRAIN_IRQ(63)
#undef MCUTRAIN_IRQ10
#undef MCUTRAIN_IRQ
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
