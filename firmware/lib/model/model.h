// A model blob, validated once (load), then executed any number of times (invoke). load() checks
// the magic, version, CRC and every offset, size, shape and parameter block, so invoke() can
// trust what it reads (TFLM's Prepare/Eval split). Nothing allocates: the caller owns the arena.
#pragma once

#include <cstdint>

#include "blob_format.h"
#include "op_context.h"

namespace model {

enum class LoadError : uint8_t {
  kOk = 0,
  kTooSmall,       ///< Shorter than a header, or than the header's total_size.
  kBadMagic,
  kBadVersion,     ///< Format version or header size this firmware does not read.
  kBadCrc,
  kBadTable,       ///< Tensor/op tables or data section outside the blob, or misaligned.
  kBadTensor,      ///< A tensor's size, dims or location is inconsistent.
  kBadOp,          ///< An op's opcode, operands, shapes or parameters are invalid.
  kArenaTooSmall,  ///< The memory plan needs more arena than the firmware reserved.
};

const char* load_error_name(LoadError error);

/// Called after each op with its index and the ticks it took (board::counter units).
using OpTimer = void (*)(uint16_t op_index, uint64_t ticks);

class Model {
 public:
  /// Validates `blob` (at most `blob_capacity` bytes readable) against an arena of
  /// `arena_capacity` bytes. On error, `bad_index` (if given) names the tensor or op at fault.
  LoadError load(const uint8_t* blob, uint32_t blob_capacity, uint8_t* arena, uint32_t arena_capacity,
                 uint16_t* bad_index = nullptr);

  bool loaded() const { return header_ != nullptr; }
  const BlobHeader& header() const { return *header_; }
  const TensorRecord& tensor(uint16_t index) const { return tensors_[index]; }
  const OpRecord& op(uint16_t index) const { return ops_[index]; }

  int8_t* input() { return static_cast<int8_t*>(address(header_->input_tensor)); }
  const int8_t* output() { return static_cast<const int8_t*>(address(header_->output_tensor)); }
  uint32_t input_bytes() const { return tensors_[header_->input_tensor].size; }
  uint32_t output_bytes() const { return tensors_[header_->output_tensor].size; }

  /// The trainable region (header trainable_offset/size: the parameters the device updates and
  /// checkpoints carry) is read from flash until attach_trainable() gives it an SRAM copy of
  /// at least trainable_bytes(); from then on every op reads those parameters from the copy.
  uint32_t trainable_bytes() const { return header_->trainable_size; }
  void attach_trainable(uint8_t* sram);
  uint8_t* trainable() { return trainable_; }
  /// Copies the flashed (pretrained) parameters back over the SRAM copy.
  void restore_trainable();

  /// Runs every op in order on the input already written to input(). `timer` may be null.
  /// `counter` is the tick source used for timing (board::counter).
  void invoke(OpTimer timer = nullptr, uint64_t (*counter)() = nullptr);
  /// Runs one op (the trainer runs the forward pass op by op to keep its masks).
  void run(uint16_t op_index);

  /// A validated tensor's bytes: in the arena, the SRAM copy of the trainable region, or flash.
  void* tensor_data(uint16_t index) { return address(index); }
  /// The data section (constants and parameter blocks; offsets in records are relative to it).
  const uint8_t* data() const { return data_; }
  /// Whether a constant tensor lies in the trainable region (its updates reach the SRAM copy).
  bool in_trainable(uint16_t index) const;

 private:
  void* address(uint16_t tensor_index);
  LoadError validate_tensors(uint16_t* bad_index) const;
  LoadError validate_op(const OpRecord& op) const;
  /// The op's view of the blob, without operand addresses (invoke adds them).
  OpContext context(const OpRecord& op) const;
  /// The op's scratch holds `need` bytes, inside the arena, aligned, clear of its operands.
  bool scratch_ok(const OpRecord& op, uint32_t need) const;

  const BlobHeader* header_ = nullptr;
  const TensorRecord* tensors_ = nullptr;
  const OpRecord* ops_ = nullptr;
  const uint8_t* data_ = nullptr;
  uint8_t* arena_ = nullptr;
  uint8_t* trainable_ = nullptr;
};

}  // namespace model
