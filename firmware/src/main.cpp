// mcutrain firmware entry point: bring up the board, announce ourselves, serve the host.
#include <cstdint>

#include "app/banner.h"
#include "app/model_runner.h"
#include "app/protocol_loop.h"
#include "board.h"

#if defined(MCUTRAIN_SELFTEST_HARDFAULT)
// Test image only (tests/test_emulator.py): proves that a fault is reported over the UART
// and ends the emulator with a non-zero status instead of hanging or passing silently.
static void trigger_fault() { __asm volatile("udf #0"); }
#endif

#if defined(MCUTRAIN_SELFTEST_RAM_OVERFLOW)
// Test image only: a static buffer larger than any RAM budget, so the link must fail.
volatile uint8_t g_overflow_probe[512 * 1024];
#endif

int main() {
  board::init();
  app::print_banner();
#if defined(MCUTRAIN_SELFTEST_HARDFAULT)
  trigger_fault();
#endif
#if defined(MCUTRAIN_SELFTEST_RAM_OVERFLOW)
  g_overflow_probe[sizeof(g_overflow_probe) - 1] = 1;
#endif
#if defined(MCUTRAIN_SELFTEST_MODEL_RUNNER)
  app::run_model_runner();  // test/benchmark image: raw forward passes, never returns
#endif
  app::serve_protocol();  // never returns
}
