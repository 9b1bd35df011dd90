// The model blob: one versioned, checksummed binary holding the graph, the int8 weights, int32
// biases, per-channel multipliers and shifts, zero points and the memory plan. Written by the
// host (quantize/blob.py, which mirrors these layouts with struct format strings; blob_layout.cpp
// asserts every field's offset) and linked into flash. All integers are little-endian; every
// record is plain data with fixed size.
//
//   [BlobHeader][TensorRecord x num_tensors][OpRecord x num_ops][data section]
//
// The CRC-32 (zlib's) covers every byte after the crc field. Offsets in TensorRecord (for
// constant tensors) and OpRecord.params_offset are relative to the data section; arena tensors'
// offsets and OpRecord.scratch_offset are relative to the arena, whose size the host's memory
// planner fixed.
#pragma once

#include <cstdint>

#include "add_s8.h"
#include "concatenation_s8.h"
#include "conv2d_s8.h"
#include "depthwise_conv2d_s8.h"
#include "fully_connected_s8.h"
#include "lut_s8.h"
#include "mean_s8.h"
#include "mul_s8.h"
#include "pad_s8.h"
#include "pool_s8.h"
#include "requantize_s8.h"
#include "slice_s8.h"
#include "softmax_s8.h"

namespace model {

constexpr uint32_t kBlobMagic = 0x4254434Du;  // "MCTB"
constexpr uint16_t kBlobVersion = 6;  // 2: packed pointwise filters; 3: the training section, per-op kernel scratch;
                                      // 4: gradient filtering in the training steps; 5: MEAN's block carries its axes;
                                      // 6: a training step names its input (TrainStep::input, CONCATENATION)
constexpr uint16_t kNoTensor = 0xFFFFu;
constexpr int kMaxOpInputs = 4;  ///< CONCATENATION's inputs (the record's former reserved halfword)
constexpr int kNameLength = 16;
constexpr uint32_t kScratchAlignment = 8;  // as the kernels' stack buffers were, for their LDRD / STRD

struct BlobHeader {
  uint32_t magic;
  uint16_t version;
  uint16_t header_size;  ///< sizeof(BlobHeader): lets a reader reject a layout it does not know.
  uint32_t total_size;   ///< Whole blob, header included.
  uint32_t crc32;        ///< Of bytes [offsetof(name), total_size).
  char name[kNameLength];  ///< NUL-padded model name.
  uint16_t num_tensors;
  uint16_t num_ops;
  uint32_t tensors_offset;  ///< From the start of the blob.
  uint32_t ops_offset;
  uint32_t data_offset;
  uint32_t data_size;
  uint32_t arena_size;      ///< Bytes of activation arena the memory plan needs.
  uint16_t input_tensor;
  uint16_t output_tensor;
  uint32_t trainable_offset;  ///< Trainable parameters, within the data section (0, 0: none).
  uint32_t trainable_size;
  uint32_t training_offset;  ///< The training section (train/training_format.h), in the data section (0, 0: none).
  uint32_t training_size;
};

/// kPackedPairs: a pointwise CONV_2D filter [C_out, 1, 1, C_in] in conv2d_s8's packed layout
/// (kernels::packed_pairs_bytes bytes, see conv2d_s8.h), which the compiler writes where
/// kernels::conv2d_takes_packed holds; kPackedPairsScaled: the same, scaled for
/// OutputPath::kScaledRelu (kernels::conv2d_takes_scaled).
enum class TensorType : uint8_t { kInt8 = 0, kInt32 = 1, kPackedPairs = 2, kPackedPairsScaled = 3 };

inline bool is_packed(TensorType type) {
  return type == TensorType::kPackedPairs || type == TensorType::kPackedPairsScaled;
}
enum class Location : uint8_t { kArena = 0, kData = 1 };

struct TensorRecord {
  uint16_t dims[4];  ///< NHWC; leading unused dims are 1.
  TensorType type;
  Location location;
  uint16_t reserved;
  int32_t zero_point;
  uint32_t offset;  ///< In the arena or the data section, per `location`.
  uint32_t size;    ///< Bytes; the product of dims times the element size, or packed_pairs_bytes.
};

/// Bytes a constant of this type and dims must have.
inline uint32_t tensor_bytes(TensorType type, const uint16_t (&dims)[4]) {
  if (is_packed(type)) return dims[1] == 1 && dims[2] == 1 ? kernels::packed_pairs_bytes(dims[0], dims[3]) : 0;
  return uint32_t{dims[0]} * dims[1] * dims[2] * dims[3] * (type == TensorType::kInt32 ? 4u : 1u);
}

/// [offset, offset + size) lies within [0, limit), without overflow.
inline bool fits(uint32_t offset, uint32_t size, uint32_t limit) { return offset <= limit && size <= limit - offset; }

/// [a, a + a_size) and [b, b + b_size), both known to fit a buffer, share no byte.
inline bool disjoint(uint32_t a, uint32_t a_size, uint32_t b, uint32_t b_size) {
  return a + a_size <= b || b + b_size <= a;
}

/// An op's per-channel multiplier and shift arrays (`channels` int32 each) are word-aligned and
/// inside the data section.
inline bool channel_arrays_fit(uint32_t multiplier_offset, uint32_t shift_offset, uint32_t channels,
                               uint32_t data_size) {
  return (multiplier_offset & 3u) == 0 && (shift_offset & 3u) == 0 &&
         fits(multiplier_offset, channels * 4u, data_size) && fits(shift_offset, channels * 4u, data_size);
}

/// Those arrays as the kernels read them.
inline kernels::PerChannelQuant channel_arrays(const uint8_t* data, uint32_t multiplier_offset, uint32_t shift_offset) {
  return {reinterpret_cast<const int32_t*>(data + multiplier_offset),
          reinterpret_cast<const int32_t*>(data + shift_offset)};
}

/// A conv filter tensor's packed words (nullptr when int8) and scaling, for kernels::conv2d_s8.
inline kernels::PackedFilter packed_filter(const TensorRecord& f, const uint8_t* data) {
  if (!is_packed(f.type)) return {};
  return {reinterpret_cast<const uint32_t*>(data + f.offset), f.type == TensorType::kPackedPairsScaled};
}

/// A CONV_2D or DEPTHWISE_CONV_2D filter in the data section: int8, or (`packable`: a CONV_2D)
/// packed pairs of a filter conv2d_s8 takes packed (and scaled) with these parameters, per-channel
/// arrays and biases (validated, or nullptr), holding the constants the device would compute.
inline bool conv_filter_ok(const TensorRecord& f, const uint8_t* data, const kernels::ConvParams& params,
                           const kernels::PerChannelQuant& quant, const int32_t* bias, bool packable) {
  if (f.location != Location::kData) return false;
  if (f.type == TensorType::kInt8) return true;
  if (!packable || !is_packed(f.type)) return false;
  const kernels::Dims dims{f.dims[0], f.dims[1], f.dims[2], f.dims[3]};
  const bool takes = f.type == TensorType::kPackedPairsScaled ? kernels::conv2d_takes_scaled(params, quant, dims, bias)
                                                               : kernels::conv2d_takes_packed(params, dims, bias);
  return takes && kernels::packed_constants_ok(params, quant, dims, bias, packed_filter(f, data));
}

enum class OpCode : uint8_t {
  kConv2d = 1,
  kDepthwiseConv2d = 2,
  kFullyConnected = 3,
  kAdd = 4,
  kAveragePool2d = 5,
  kMaxPool2d = 6,
  kMean = 7,
  kReshape = 8,
  kPad = 9,
  kRequantize = 10,  ///< TFLite QUANTIZE from int8 to int8
  kSoftmax = 11,
  kInvertedResidual = 12,  ///< fused [expand 1x1] -> depthwise -> project 1x1 [-> add], row-streamed
  kRowChain = 13,          ///< a chain of CONV_2D / DEPTHWISE_CONV_2D run row by row (row_chain.h)
  kActivation = 14,        ///< a standalone RELU or RELU6: rescale, then clamp
  kLeakyRelu = 15,
  kConcatenation = 16,  ///< inputs laid end to end along one axis, all in the output's quantization
  kLut = 17,            ///< an int8 -> int8 table: LOGISTIC, TANH, HARD_SWISH (kernels/lut_s8.h)
  kMul = 20,            ///< int8 MUL, one operand broadcast against the other or the same shape
  kSub = 21,            ///< int8 SUB, likewise
  kSlice = 24,          ///< a range along one axis: STRIDED_SLICE, SPLIT, SPLIT_V (kernels/slice_s8.h)
};

struct OpRecord {
  OpCode opcode;
  uint8_t num_inputs;
  uint16_t output;
  uint16_t inputs[kMaxOpInputs];  ///< kNoTensor for an absent optional input (bias) and past num_inputs.
  uint32_t params_offset;  ///< In the data section; 0 with params_size 0 for ops without.
  uint32_t params_size;    ///< Must equal the size of the opcode's parameter struct.
  /// The op's kernels' scratch, in the arena: planned by the host for this op alone (alive while it
  /// runs), at least what the op table's scratch_bytes asks for; 8-byte aligned; 0, 0 for none.
  uint32_t scratch_offset;
  uint32_t scratch_size;
};

/// CONV_2D and DEPTHWISE_CONV_2D parameters: the kernel's, plus where the per-output-channel
/// multipliers and shifts (int32 each) are in the data section.
struct ConvOpParams {
  kernels::ConvParams conv;
  uint32_t multiplier_offset;
  uint32_t shift_offset;
};

struct FullyConnectedOpParams {
  kernels::FullyConnectedParams fc;
  uint32_t multiplier_offset;
  uint32_t shift_offset;
};

/// A MobileNetV2 inverted-residual block executed row by row (fused_block.h): the expanded tensor
/// and the depthwise output are never materialised, only a window of kh expanded rows and one
/// depthwise output row, both in the arena.
struct InvertedResidualParams {
  ConvOpParams expand;     ///< 1x1, stride 1; unused when has_expand == 0
  ConvOpParams depthwise;  ///< kh x kw, stride 1 or 2
  ConvOpParams project;    ///< 1x1, stride 1
  kernels::AddParams add;  ///< used when residual != 0
  uint16_t expand_filter, expand_bias;  ///< tensor indices; kNoTensor for an absent bias
  uint16_t depthwise_filter, depthwise_bias;
  uint16_t project_filter, project_bias;
  uint16_t has_expand;
  uint16_t residual;       ///< 0: none; 1: ADD(block input, branch); 2: ADD(branch, block input)
  uint32_t window_offset;  ///< arena: kh rows x W x C_expanded (only when has_expand)
  uint32_t row_offset;     ///< arena: one depthwise output row, W_out x C_expanded
};

/// The most convolutions one kRowChain op runs (RowChainParams).
constexpr uint32_t kMaxChainStages = 8;

/// One convolution of a row-streamed chain (row_chain.h). Its input is the previous stage's
/// output (the op's input for stage 0); the intermediate outputs never exist whole, only a window
/// of window_rows rows of each, in the arena.
struct RowChainStage {
  ConvOpParams conv;         ///< CONV_2D (any kernel, stride) or DEPTHWISE_CONV_2D (multiplier 1)
  uint16_t filter, bias;     ///< tensor indices; bias kNoTensor when absent
  uint16_t depthwise;        ///< 1: DEPTHWISE_CONV_2D, 0: CONV_2D
  uint16_t rows;             ///< output rows per kernel call (at least 1)
  uint16_t out_h, out_w, out_c;  ///< the stage's output shape (the last stage's: the op's output)
  uint16_t window_rows;      ///< rows of its output the window holds; 0 for the last stage
  uint32_t window_offset;    ///< arena: window_rows x out_w x out_c bytes (not the last stage)
};

/// A chain of convolutions, each intermediate read by the next one only, executed row by row: the
/// last stage's rows are computed in bands of `rows`, each pulling the rows it needs from the stage
/// before, down to the op's input.
struct RowChainParams {
  uint32_t num_stages;  ///< 2 .. kMaxChainStages
  RowChainStage stages[kMaxChainStages];
};

}  // namespace model
