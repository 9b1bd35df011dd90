#pragma once

namespace app {

/// Test and benchmark image only (built with MCUTRAIN_SELFTEST_MODEL_RUNNER): serves the model
/// over the raw UART, with no framing, so the forward pass can be checked and timed on its own.
///   device: "model ok name=N input=I output=O arena=A ops=K\r\n"  (or "model refused: reason")
///   then forever: host sends I input bytes; device answers O output bytes followed by K
///   little-endian uint64 tick counts, one per op (board::counter units).
/// Used by tests/test_forward_fidelity.py and `mcutrain bench forward`.
void run_model_runner();

}  // namespace app
