#pragma once

namespace app {

/// Writes the one-line boot banner over the link, e.g.
/// "mcutrain fw=0.1.0 board=qemu-m7 cpu=cortex-m7 clock_hz=25000000 ram_budget=262144
///  static_ram=1024 stack=16384 stack_used=96 reset=power-on". The host parses the key=value
/// pairs (host_tools.banner), so keys are part of the interface.
void print_banner();

}  // namespace app
