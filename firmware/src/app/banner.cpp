#include "banner.h"

#include <cstdint>

#include "board.h"
#include "text_buffer.h"

#ifndef MCUTRAIN_FW_VERSION
#error "MCUTRAIN_FW_VERSION must be defined by the build (platformio.ini reads it from pyproject.toml)"
#endif

namespace app {

void print_banner() {
  const board::Info& info = board::info();
  const board::MemoryInfo memory = board::memory();
  char storage[256];
  mcu::TextBuffer line(storage, sizeof(storage));
  line.str("mcutrain ")
      .kv("fw", MCUTRAIN_FW_VERSION)
      .kv("board", info.name)
      .kv("cpu", info.cpu)
      .kv("clock_hz", info.core_clock_hz)
      .kv("counter_hz", info.counter_hz)
      .kv("ram_budget", memory.ram_budget_bytes)
      .kv("static_ram", memory.static_ram_bytes)
      .kv("stack", memory.stack_bytes)
      .kv("stack_used", board::stack_high_water_bytes())
      .kv("reset", board::reset_reason_name(board::reset_reason()))
      .str("\r\n");
  board::write(reinterpret_cast<const uint8_t*>(line.c_str()), line.size());
}

}  // namespace app
