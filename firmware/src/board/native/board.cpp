// The host build of the board interface: the link is stdin/stdout, the counter is a monotonic
// clock in nanoseconds, and there is no linker-enforced SRAM budget to report.
#include <poll.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "board.h"

namespace board {

void init() {}

const Info& info() {
  static const Info info = {"native", "host", 0u, 1000000000u};
  return info;
}

MemoryInfo memory() { return {0u, 0u, 0u}; }

uint32_t stack_high_water_bytes() { return 0u; }

void write(const uint8_t* data, size_t size) {
  while (size > 0) {
    const ssize_t written = ::write(STDOUT_FILENO, data, size);
    if (written <= 0) return;
    data += written;
    size -= static_cast<size_t>(written);
  }
}

size_t read(uint8_t* data, size_t size, uint32_t timeout_ms) {
  pollfd fd = {STDIN_FILENO, POLLIN, 0};
  if (poll(&fd, 1, static_cast<int>(timeout_ms)) <= 0) return 0;
  const ssize_t got = ::read(STDIN_FILENO, data, size);
  return got > 0 ? static_cast<size_t>(got) : 0;
}

uint64_t counter() {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1000000000u + static_cast<uint64_t>(now.tv_nsec);
}

ResetReason reset_reason() { return ResetReason::kPowerOn; }

void halt(int exit_code) { ::exit(exit_code); }

}  // namespace board
