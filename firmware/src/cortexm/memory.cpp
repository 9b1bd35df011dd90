#include <cstdint>

#include "cortex_m.h"
#include "stack_paint.h"

extern "C" {
extern uint32_t _sdata, _ebss, __stack_bottom, __stack_top, __ram_length;
}

namespace cortexm {

namespace {
uint32_t address(const void* symbol) { return static_cast<uint32_t>(reinterpret_cast<uintptr_t>(symbol)); }
}  // namespace

// __ram_length is an absolute linker symbol: its *address* is the value.
uint32_t ram_budget_bytes() { return address(&__ram_length); }
uint32_t static_ram_bytes() { return address(&_ebss) - address(&_sdata); }
uint32_t stack_bytes() { return address(&__stack_top) - address(&__stack_bottom); }
uint32_t stack_used_bytes() { return mcu::stack_used_bytes(&__stack_bottom, &__stack_top); }

}  // namespace cortexm
