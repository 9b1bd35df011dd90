// What an op's kernels see of the model (op_table.h): its record, the blob's tables, and, when it
// runs, where its operands are. One struct for every column of the op table, so that a column
// added later (backward) reads the op the way validate and eval do.
#pragma once

#include <cstdint>

#include "blob_format.h"

namespace model {

struct OpContext {
  const OpRecord* op;
  const BlobHeader* header;
  const TensorRecord* tensors;  ///< the blob's tensor table, indices validated against num_tensors
  const uint8_t* data;          ///< the data section: parameter blocks, constants as flashed
  uint8_t* arena;
  // Set for eval only (nullptr while validating): the trainable parameters may have moved to SRAM
  // (Model::attach_trainable) after the blob was validated, so addresses are resolved per run.
  const void* inputs[kMaxOpInputs];  ///< each input's bytes; nullptr for an absent one
  void* output;
  void* scratch;  ///< arena + op->scratch_offset: op->scratch_size bytes for this op's kernels alone

  const TensorRecord& input_tensor(int i) const { return tensors[op->inputs[i]]; }
  const TensorRecord& output_tensor() const { return tensors[op->output]; }
  bool has_input(int i) const { return op->num_inputs > i && op->inputs[i] != kNoTensor; }

  /// The op's parameter block (its size was checked against the op table's params_size).
  template <typename T>
  const T& params() const {
    return *reinterpret_cast<const T*>(data + op->params_offset);
  }

  template <typename T>
  const T* input(int i) const {
    return static_cast<const T*>(inputs[i]);
  }
  int8_t* output_s8() const { return static_cast<int8_t*>(output); }

  /// Input i's bias check: absent, or an int32 constant of `channels` values.
  bool bias_ok(int i, uint32_t channels) const {
    if (!has_input(i)) return true;
    const TensorRecord& bias = input_tensor(i);
    return bias.location == Location::kData && bias.type == TensorType::kInt32 && bias.size == channels * 4u;
  }
  /// The flash copy of input i's validated bias (nullptr when absent): load-time checks read it.
  const int32_t* flash_bias(int i) const {
    return has_input(i) ? reinterpret_cast<const int32_t*>(data + input_tensor(i).offset) : nullptr;
  }
};

inline kernels::Dims dims_of(const TensorRecord& t) { return {t.dims[0], t.dims[1], t.dims[2], t.dims[3]}; }

/// An int8 tensor in the arena: what every op reads and writes as activations.
inline bool is_activation(const TensorRecord& t) {
  return t.location == Location::kArena && t.type == TensorType::kInt8;
}

}  // namespace model
