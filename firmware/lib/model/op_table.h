// The firmware's one registry of operators, indexed by OpCode (TFLM registers each op once the same
// way, Register_CONV_2D). An op is one row, defined in its own file under ops/: the size of its
// parameter block, its load-time checks, its forward kernel call and the scratch its kernels need.
// Model::load and Model::invoke go through the table only, so adding an op is adding a row, and
// adding a phase is adding a column.
#pragma once

#include <cstdint>

#include "op_context.h"

namespace model {

struct OpKernel {
  /// Bytes of the op's parameter block (OpRecord.params_size must equal it); 0 for none.
  uint32_t params_size;
  /// The op's own checks at load time, after Model has checked what every op shares: a known
  /// opcode, the parameter block inside the data section, operand indices, an int8 arena tensor
  /// as input 0 and as output. True when eval may trust the op.
  bool (*validate)(const OpContext& ctx);
  /// Runs the op's forward pass on a validated op.
  void (*eval)(const OpContext& ctx);
  /// Bytes of scratch eval needs (the kernels' *_scratch_bytes twins) on a validated op.
  uint32_t (*scratch_bytes)(const OpContext& ctx);
  // The training engine adds its backward kernels here, one more column:
  //   void (*backward)(const OpContext& ctx);
};

/// The row of `code`, or nullptr for an opcode this firmware does not know.
const OpKernel* op_kernel(OpCode code);

/// For ops whose kernels need no scratch.
inline uint32_t no_scratch(const OpContext&) { return 0; }

}  // namespace model
