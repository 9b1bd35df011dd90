#pragma once

namespace app {

/// Test and benchmark image only (built with MCUTRAIN_SELFTEST_MODEL_RUNNER): serves the model
/// over the raw UART, with no framing, so the forward pass can be checked and timed on its own.
///   device: "model ok name=N input=I output=O arena=A ops=K\r\n"  (or "model refused: reason")
///   then forever, one of (all integers little-endian):
///   - 'I' and I input bytes: device answers O output bytes followed by K uint64 tick counts, one
///     per op (board::counter units);
///   - 'T', a label byte and I input bytes: one training step (train::Trainer, the blob's training
///     section); device answers loss int32, predicted uint8, correct uint8, S uint16 (the timed
///     backward steps), uint64 ticks of the forward pass and of the loss, then S uint64 of each
///     step's error pass and S uint64 of its updates (train::StepTicks).
/// Used by tests/test_forward_fidelity.py, `mcutrain bench forward` and `mcutrain bench train`.
void run_model_runner();

}  // namespace app
