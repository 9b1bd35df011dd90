#pragma once

namespace app {

/// The product firmware's main loop: prepares the model runtime once (a refused model is
/// reported by INFO, the link keeps answering), then serves the framed protocol
/// (lib/protocol/server.h) over the board link forever.
[[noreturn]] void serve_protocol();

}  // namespace app
