#include "model.h"

#include <cstddef>
#include <cstring>

#include "crc32.h"
#include "op_table.h"

namespace model {

namespace {

constexpr uint32_t kCrcStart = offsetof(BlobHeader, name);

}  // namespace

const char* load_error_name(LoadError error) {
  switch (error) {
    case LoadError::kOk: return "ok";
    case LoadError::kTooSmall: return "blob truncated";
    case LoadError::kBadMagic: return "bad magic (not a model blob)";
    case LoadError::kBadVersion: return "unsupported blob version";
    case LoadError::kBadCrc: return "CRC mismatch (corrupted blob)";
    case LoadError::kBadTable: return "table outside the blob";
    case LoadError::kBadTensor: return "invalid tensor";
    case LoadError::kBadOp: return "invalid operator";
    case LoadError::kArenaTooSmall: return "arena too small for the memory plan";
  }
  return "unknown";
}

LoadError Model::load(const uint8_t* blob, uint32_t capacity, uint8_t* arena, uint32_t arena_capacity,
                      uint16_t* bad_index) {
  header_ = nullptr;
  trainable_ = nullptr;
  if (blob == nullptr || capacity < sizeof(BlobHeader)) return LoadError::kTooSmall;
  if ((reinterpret_cast<uintptr_t>(blob) & 3u) != 0) return LoadError::kBadTable;
  const auto* header = reinterpret_cast<const BlobHeader*>(blob);
  if (header->magic != kBlobMagic) return LoadError::kBadMagic;
  if (header->version != kBlobVersion || header->header_size != sizeof(BlobHeader)) return LoadError::kBadVersion;
  if (header->total_size < sizeof(BlobHeader) || header->total_size > capacity) return LoadError::kTooSmall;
  if (mcu::crc32(blob + kCrcStart, header->total_size - kCrcStart) != header->crc32) return LoadError::kBadCrc;

  const uint32_t total = header->total_size;
  if (!fits(header->tensors_offset, header->num_tensors * uint32_t{sizeof(TensorRecord)}, total) ||
      !fits(header->ops_offset, header->num_ops * uint32_t{sizeof(OpRecord)}, total) ||
      !fits(header->data_offset, header->data_size, total) || (header->tensors_offset & 3u) != 0 ||
      (header->ops_offset & 3u) != 0 || (header->data_offset & 3u) != 0 ||
      !fits(header->trainable_offset, header->trainable_size, header->data_size) ||
      (header->trainable_offset & 3u) != 0 || !fits(header->training_offset, header->training_size, header->data_size) ||
      (header->training_offset & 3u) != 0)
    return LoadError::kBadTable;
  if (header->arena_size > arena_capacity) return LoadError::kArenaTooSmall;

  tensors_ = reinterpret_cast<const TensorRecord*>(blob + header->tensors_offset);
  ops_ = reinterpret_cast<const OpRecord*>(blob + header->ops_offset);
  data_ = blob + header->data_offset;
  arena_ = arena;
  header_ = header;  // validate_* read through header_

  LoadError error = validate_tensors(bad_index);
  if (error == LoadError::kOk) {
    const uint16_t io[2] = {header->input_tensor, header->output_tensor};
    for (uint16_t index : io) {
      if (index >= header->num_tensors || tensors_[index].location != Location::kArena ||
          tensors_[index].type != TensorType::kInt8) {
        if (bad_index) *bad_index = index;
        error = LoadError::kBadTensor;
      }
    }
  }
  for (uint16_t i = 0; error == LoadError::kOk && i < header->num_ops; ++i) {
    error = validate_op(ops_[i]);
    if (error != LoadError::kOk && bad_index) *bad_index = i;
  }
  if (error != LoadError::kOk) header_ = nullptr;
  return error;
}

LoadError Model::validate_tensors(uint16_t* bad_index) const {
  for (uint16_t i = 0; i < header_->num_tensors; ++i) {
    const TensorRecord& t = tensors_[i];
    const bool type_ok = t.type == TensorType::kInt8 || t.type == TensorType::kInt32 ||
                         (is_packed(t.type) && t.location == Location::kData);
    const uint32_t limit = t.location == Location::kArena ? header_->arena_size : header_->data_size;
    const bool location_ok = t.location == Location::kArena || t.location == Location::kData;
    const bool aligned = t.type == TensorType::kInt8 || (t.offset & 3u) == 0;
    if (!type_ok || !location_ok || t.size == 0 || t.size != tensor_bytes(t.type, t.dims) ||
        !fits(t.offset, t.size, limit) || !aligned) {
      if (bad_index) *bad_index = i;
      return LoadError::kBadTensor;
    }
  }
  return LoadError::kOk;
}

LoadError Model::validate_op(const OpRecord& op) const {
  const OpKernel* kernel = op_kernel(op.opcode);
  if (kernel == nullptr || op.params_size != kernel->params_size || op.num_inputs == 0 ||
      op.num_inputs > kMaxOpInputs || (op.params_offset & 3u) != 0 ||
      !fits(op.params_offset, op.params_size, header_->data_size) || op.output >= header_->num_tensors)
    return LoadError::kBadOp;
  for (int i = 0; i < op.num_inputs; ++i)
    if (op.inputs[i] != kNoTensor && op.inputs[i] >= header_->num_tensors) return LoadError::kBadOp;
  if (op.inputs[0] == kNoTensor) return LoadError::kBadOp;
  if (!is_activation(tensors_[op.inputs[0]]) || !is_activation(tensors_[op.output])) return LoadError::kBadOp;
  const OpContext ctx = context(op);
  if (!kernel->validate(ctx) || !scratch_ok(op, kernel->scratch_bytes(ctx))) return LoadError::kBadOp;
  return LoadError::kOk;
}

bool Model::scratch_ok(const OpRecord& op, uint32_t need) const {
  if (op.scratch_size < need || !fits(op.scratch_offset, op.scratch_size, header_->arena_size) ||
      (op.scratch_offset & (kScratchAlignment - 1)) != 0)
    return false;
  if (op.scratch_size == 0) return true;
  // Clear of the op's own operands, which it reads or writes while its kernels use the scratch.
  const auto clear_of = [&](uint16_t index) {
    const TensorRecord& t = tensors_[index];
    return t.location != Location::kArena || disjoint(op.scratch_offset, op.scratch_size, t.offset, t.size);
  };
  for (int i = 0; i < op.num_inputs; ++i)
    if (op.inputs[i] != kNoTensor && !clear_of(op.inputs[i])) return false;
  return clear_of(op.output);
}

OpContext Model::context(const OpRecord& op) const {
  return {&op, header_, tensors_, data_, arena_, {}, nullptr, arena_ + op.scratch_offset};
}

void* Model::address(uint16_t index) {
  const TensorRecord& t = tensors_[index];
  if (t.location == Location::kArena) return arena_ + t.offset;
  const uint32_t into_trainable = t.offset - header_->trainable_offset;  // wraps when below
  if (trainable_ != nullptr && into_trainable < header_->trainable_size) return trainable_ + into_trainable;
  return const_cast<uint8_t*>(data_ + t.offset);
}

bool Model::in_trainable(uint16_t index) const {
  const TensorRecord& t = tensors_[index];
  return t.location == Location::kData && t.offset >= header_->trainable_offset &&
         fits(t.offset - header_->trainable_offset, t.size, header_->trainable_size);
}

void Model::attach_trainable(uint8_t* sram) {
  trainable_ = sram;
  restore_trainable();
}

void Model::restore_trainable() {
  if (trainable_ != nullptr) std::memcpy(trainable_, data_ + header_->trainable_offset, header_->trainable_size);
}

void Model::invoke(OpTimer timer, uint64_t (*counter)()) {
  for (uint16_t i = 0; i < header_->num_ops; ++i) {
    const uint64_t start = (timer && counter) ? counter() : 0;
    run(i);
    if (timer && counter) timer(i, counter() - start);
  }
}

void Model::run(uint16_t op_index) {
  const OpRecord& op = ops_[op_index];
  OpContext ctx = {&op, header_, tensors_, data_, arena_, {}, nullptr, nullptr};
  for (int k = 0; k < kMaxOpInputs; ++k)
    ctx.inputs[k] = k < op.num_inputs && op.inputs[k] != kNoTensor ? address(op.inputs[k]) : nullptr;
  ctx.output = address(op.output);
  ctx.scratch = arena_ + op.scratch_offset;
  op_kernel(op.opcode)->eval(ctx);
}

}  // namespace model
