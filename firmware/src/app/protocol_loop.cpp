#include "protocol_loop.h"

#include <cstdint>

#include "board.h"
#include "runtime.h"
#include "server.h"

namespace app {

namespace {

protocol::Server g_server;

// How long one board::read waits for the first byte before the server checks for a stalled frame.
constexpr uint32_t kReadPollMs = 20;

}  // namespace

void serve_protocol() {
  const char* why = "";
  const runtime::Status status = runtime::init(&why);
  g_server.begin(status, why);
  // End the banner's text as a frame of its own: the host discards it as noise and the first
  // real frame starts clean.
  const uint8_t delimiter = protocol::kDelimiter;
  board::write(&delimiter, 1);
  uint8_t chunk[64];
  for (;;) {
    const size_t got = board::read(chunk, sizeof(chunk), kReadPollMs);
    g_server.receive(chunk, got);
    g_server.poll();
  }
}

}  // namespace app
