#include "cortex_m.h"

namespace cortexm {

void semihosting_exit(int code) {
  // SYS_EXIT_EXTENDED (0x20) takes {reason, status}; reason ADP_Stopped_ApplicationExit (0x20026)
  // with a status makes QEMU (-semihosting-config enable=on) exit with that status.
  volatile uint32_t block[2] = {0x20026u, static_cast<uint32_t>(code)};
  register uint32_t op __asm("r0") = 0x20u;
  register volatile uint32_t* arg __asm("r1") = block;
  __asm volatile("bkpt 0xAB" : "+r"(op) : "r"(arg) : "memory");
  for (;;) {
  }
}

}  // namespace cortexm
