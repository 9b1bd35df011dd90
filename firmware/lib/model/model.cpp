#include "model.h"

#include <cstddef>
#include <cstring>

#include "crc32.h"
#include "fused_block.h"

namespace model {

namespace {

constexpr uint32_t kCrcStart = offsetof(BlobHeader, name);

kernels::Dims dims_of(const TensorRecord& t) { return {t.dims[0], t.dims[1], t.dims[2], t.dims[3]}; }

template <typename T>
const T& params_as(const uint8_t* data, const OpRecord& op) {
  return *reinterpret_cast<const T*>(data + op.params_offset);
}

uint32_t expected_params_size(OpCode code) {
  switch (code) {
    case OpCode::kConv2d:
    case OpCode::kDepthwiseConv2d: return sizeof(ConvOpParams);
    case OpCode::kFullyConnected: return sizeof(FullyConnectedOpParams);
    case OpCode::kAdd: return sizeof(kernels::AddParams);
    case OpCode::kAveragePool2d:
    case OpCode::kMaxPool2d: return sizeof(kernels::PoolParams);
    case OpCode::kMean: return sizeof(kernels::MeanParams);
    case OpCode::kPad: return sizeof(kernels::PadParams);
    case OpCode::kReshape: return 0;
    case OpCode::kRequantize: return sizeof(kernels::RequantizeParams);
    case OpCode::kSoftmax: return sizeof(kernels::SoftmaxParams);
    case OpCode::kInvertedResidual: return sizeof(InvertedResidualParams);
  }
  return UINT32_MAX;  // unknown opcode
}

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
  const uint32_t want_params = expected_params_size(op.opcode);
  if (want_params == UINT32_MAX || op.params_size != want_params || op.num_inputs == 0 ||
      op.num_inputs > kMaxOpInputs || (op.params_offset & 3u) != 0 ||
      !fits(op.params_offset, op.params_size, header_->data_size) || op.output >= header_->num_tensors)
    return LoadError::kBadOp;
  for (int i = 0; i < op.num_inputs; ++i)
    if (op.inputs[i] != kNoTensor && op.inputs[i] >= header_->num_tensors) return LoadError::kBadOp;
  if (op.inputs[0] == kNoTensor) return LoadError::kBadOp;

  const TensorRecord& in = tensors_[op.inputs[0]];
  const TensorRecord& out = tensors_[op.output];
  auto is_activation = [](const TensorRecord& t) { return t.location == Location::kArena && t.type == TensorType::kInt8; };
  if (!is_activation(in) || !is_activation(out)) return LoadError::kBadOp;
  // The flash copy of a validated bias (nullptr when absent): the packed filter check reads it.
  auto bias_data = [this](const OpRecord& o) -> const int32_t* {
    if (o.num_inputs < 3 || o.inputs[2] == kNoTensor) return nullptr;
    return reinterpret_cast<const int32_t*>(data_ + tensors_[o.inputs[2]].offset);
  };
  auto bias_ok = [this, &op](uint32_t channels) {
    if (op.num_inputs < 3 || op.inputs[2] == kNoTensor) return true;
    const TensorRecord& bias = tensors_[op.inputs[2]];
    return bias.location == Location::kData && bias.type == TensorType::kInt32 && bias.size == channels * 4u;
  };

  switch (op.opcode) {
    case OpCode::kConv2d:
    case OpCode::kDepthwiseConv2d: {
      if (op.num_inputs < 2 || op.inputs[1] == kNoTensor) return LoadError::kBadOp;
      const TensorRecord& filter = tensors_[op.inputs[1]];
      const auto& p = params_as<ConvOpParams>(data_, op);
      const bool depthwise = op.opcode == OpCode::kDepthwiseConv2d;
      const uint32_t out_c = out.dims[3];
      const bool shapes_ok =
          in.dims[0] == out.dims[0] &&
          (depthwise ? (filter.dims[0] == 1 && filter.dims[3] == in.dims[3] && out_c == in.dims[3])
                     : (filter.dims[0] == out_c && filter.dims[3] == in.dims[3]));
      const bool params_ok = p.conv.stride_h >= 1 && p.conv.stride_w >= 1 && p.conv.dilation_h >= 1 &&
                             p.conv.dilation_w >= 1 && p.conv.pad_top >= 0 && p.conv.pad_left >= 0 &&
                             p.conv.act.min <= p.conv.act.max;
      if (!shapes_ok || !params_ok || !bias_ok(out_c) ||
          !channel_arrays_fit(p.multiplier_offset, p.shift_offset, out_c, header_->data_size) ||
          !conv_filter_ok(filter, data_, p.conv, channel_arrays(data_, p.multiplier_offset, p.shift_offset),
                          bias_data(op), !depthwise))
        return LoadError::kBadOp;
      return LoadError::kOk;
    }
    case OpCode::kFullyConnected: {
      if (op.num_inputs < 2 || op.inputs[1] == kNoTensor) return LoadError::kBadOp;
      const TensorRecord& filter = tensors_[op.inputs[1]];
      const auto& p = params_as<FullyConnectedOpParams>(data_, op);
      const uint32_t units = filter.dims[2], depth = filter.dims[3];
      if (filter.location != Location::kData || filter.type != TensorType::kInt8 || depth == 0 ||
          in.size % depth != 0 || out.size != (in.size / depth) * units || !bias_ok(units) ||
          !channel_arrays_fit(p.multiplier_offset, p.shift_offset, units, header_->data_size) ||
          p.fc.act.min > p.fc.act.max)
        return LoadError::kBadOp;
      return LoadError::kOk;
    }
    case OpCode::kAdd: {
      if (op.num_inputs != 2 || op.inputs[1] == kNoTensor) return LoadError::kBadOp;
      const TensorRecord& other = tensors_[op.inputs[1]];
      const auto& p = params_as<kernels::AddParams>(data_, op);
      if (!is_activation(other) || other.size != out.size || in.size != out.size || p.left_shift < 0 ||
          p.left_shift > 24 || p.act.min > p.act.max)
        return LoadError::kBadOp;
      return LoadError::kOk;
    }
    case OpCode::kAveragePool2d:
    case OpCode::kMaxPool2d: {
      const auto& p = params_as<kernels::PoolParams>(data_, op);
      if (in.dims[0] != out.dims[0] || in.dims[3] != out.dims[3] || p.stride_h < 1 || p.stride_w < 1 ||
          p.filter_h < 1 || p.filter_w < 1 || p.pad_top < 0 || p.pad_left < 0 || p.act.min > p.act.max)
        return LoadError::kBadOp;
      return LoadError::kOk;
    }
    case OpCode::kMean:
      return out.size == uint32_t{in.dims[0]} * in.dims[3] ? LoadError::kOk : LoadError::kBadOp;
    case OpCode::kReshape:
    case OpCode::kRequantize:
      return in.size == out.size ? LoadError::kOk : LoadError::kBadOp;
    case OpCode::kInvertedResidual:
      return validate_inverted_residual(params_as<InvertedResidualParams>(data_, op), in, out, tensors_,
                                        header_->num_tensors, data_, header_->data_size, header_->arena_size)
                 ? LoadError::kOk
                 : LoadError::kBadOp;
    case OpCode::kSoftmax: {
      const auto& p = params_as<kernels::SoftmaxParams>(data_, op);
      return in.size == out.size && p.input_left_shift >= 0 && p.input_left_shift < 31 ? LoadError::kOk : LoadError::kBadOp;
    }
    case OpCode::kPad: {
      const auto& p = params_as<kernels::PadParams>(data_, op);
      for (int d = 0; d < 4; ++d)
        if (p.before[d] < 0 || p.after[d] < 0 || out.dims[d] != in.dims[d] + p.before[d] + p.after[d])
          return LoadError::kBadOp;
      return LoadError::kOk;
    }
  }
  return LoadError::kBadOp;
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
    run_op(ops_[i]);
    if (timer && counter) timer(i, counter() - start);
  }
}

void Model::run_op(const OpRecord& op) {
  const TensorRecord& in_t = tensors_[op.inputs[0]];
  const TensorRecord& out_t = tensors_[op.output];
  const int8_t* in = static_cast<const int8_t*>(address(op.inputs[0]));
  int8_t* out = static_cast<int8_t*>(address(op.output));
  const auto optional = [this, &op](int i) -> const void* {
    return (op.num_inputs > i && op.inputs[i] != kNoTensor) ? address(op.inputs[i]) : nullptr;
  };
  switch (op.opcode) {
    case OpCode::kConv2d:
    case OpCode::kDepthwiseConv2d: {
      const auto& p = params_as<ConvOpParams>(data_, op);
      const kernels::PerChannelQuant quant = channel_arrays(data_, p.multiplier_offset, p.shift_offset);
      const auto* filter = static_cast<const int8_t*>(optional(1));
      const auto* bias = static_cast<const int32_t*>(optional(2));
      const kernels::Dims filter_dims = dims_of(tensors_[op.inputs[1]]);
      const kernels::PackedFilter packed = packed_filter(tensors_[op.inputs[1]], data_);
      if (op.opcode == OpCode::kConv2d)
        kernels::conv2d_s8(p.conv, quant, dims_of(in_t), in, filter_dims, packed.pairs ? nullptr : filter, bias,
                           dims_of(out_t), out, packed);
      else
        kernels::depthwise_conv2d_s8(p.conv, quant, dims_of(in_t), in, filter_dims, filter, bias, dims_of(out_t), out);
      return;
    }
    case OpCode::kFullyConnected: {
      const auto& p = params_as<FullyConnectedOpParams>(data_, op);
      const TensorRecord& filter_t = tensors_[op.inputs[1]];
      const int32_t depth = filter_t.dims[3], units = filter_t.dims[2];
      const kernels::PerChannelQuant quant = channel_arrays(data_, p.multiplier_offset, p.shift_offset);
      kernels::fully_connected_s8(p.fc, quant, static_cast<int32_t>(in_t.size) / depth, depth, in, units,
                                  static_cast<const int8_t*>(optional(1)), static_cast<const int32_t*>(optional(2)), out);
      return;
    }
    case OpCode::kAdd:
      kernels::add_s8(params_as<kernels::AddParams>(data_, op), static_cast<int32_t>(out_t.size), in,
                      static_cast<const int8_t*>(optional(1)), out);
      return;
    case OpCode::kAveragePool2d:
      kernels::average_pool_s8(params_as<kernels::PoolParams>(data_, op), dims_of(in_t), in, dims_of(out_t), out);
      return;
    case OpCode::kMaxPool2d:
      kernels::max_pool_s8(params_as<kernels::PoolParams>(data_, op), dims_of(in_t), in, dims_of(out_t), out);
      return;
    case OpCode::kMean:
      kernels::mean_hw_s8(params_as<kernels::MeanParams>(data_, op), dims_of(in_t), in, out);
      return;
    case OpCode::kReshape:
      if (in != out) std::memmove(out, in, out_t.size);  // the planner usually aliases them
      return;
    case OpCode::kPad:
      kernels::pad_s8(params_as<kernels::PadParams>(data_, op), dims_of(in_t), in, dims_of(out_t), out);
      return;
    case OpCode::kInvertedResidual:
      run_inverted_residual(params_as<InvertedResidualParams>(data_, op),
                            {&in_t, in, &out_t, out, arena_, data_, tensors_});
      return;
    case OpCode::kSoftmax:
      kernels::softmax_s8(params_as<kernels::SoftmaxParams>(data_, op), static_cast<int32_t>(out_t.size) / out_t.dims[3],
                          out_t.dims[3], in, out);
      return;
    case OpCode::kRequantize:
      kernels::requantize_s8(params_as<kernels::RequantizeParams>(data_, op), static_cast<int32_t>(out_t.size), in, out);
      return;
  }
}

}  // namespace model
