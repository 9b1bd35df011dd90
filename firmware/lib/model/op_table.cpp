#include "op_table.h"

#include <array>
#include <cstddef>

#include "ops/ops.h"

namespace model {

namespace {

struct Row {
  OpCode code;
  const OpKernel* kernel;
};

constexpr Row kRows[] = {
    {OpCode::kConv2d, &ops::kConv2d},
    {OpCode::kDepthwiseConv2d, &ops::kDepthwiseConv2d},
    {OpCode::kFullyConnected, &ops::kFullyConnected},
    {OpCode::kAdd, &ops::kAdd},
    {OpCode::kAveragePool2d, &ops::kAveragePool2d},
    {OpCode::kMaxPool2d, &ops::kMaxPool2d},
    {OpCode::kMean, &ops::kMean},
    {OpCode::kReshape, &ops::kReshape},
    {OpCode::kPad, &ops::kPad},
    {OpCode::kRequantize, &ops::kRequantize},
    {OpCode::kSoftmax, &ops::kSoftmax},
    {OpCode::kInvertedResidual, &ops::kInvertedResidual},
    {OpCode::kRowChain, &ops::kRowChain},
    {OpCode::kActivation, &ops::kActivation},
    {OpCode::kLeakyRelu, &ops::kLeakyRelu},
    {OpCode::kConcatenation, &ops::kConcatenation},
    {OpCode::kLut, &ops::kLut},
    {OpCode::kMul, &ops::kMul},
    {OpCode::kSub, &ops::kSub},
    {OpCode::kSlice, &ops::kSlice},
};

constexpr size_t opcode_limit() {
  size_t limit = 0;
  for (const Row& row : kRows) {
    const size_t end = static_cast<size_t>(row.code) + 1;
    limit = end > limit ? end : limit;
  }
  return limit;
}

constexpr size_t kOpCodeLimit = opcode_limit();

// The rows by opcode, built at compile time, so a lookup is one load and the list above can name
// each row's opcode beside it.
constexpr std::array<const OpKernel*, kOpCodeLimit> by_opcode() {
  std::array<const OpKernel*, kOpCodeLimit> table{};
  for (const Row& row : kRows) table[static_cast<uint8_t>(row.code)] = row.kernel;
  return table;
}

constexpr std::array<const OpKernel*, kOpCodeLimit> kByOpcode = by_opcode();

}  // namespace

const OpKernel* op_kernel(OpCode code) {
  const size_t index = static_cast<uint8_t>(code);
  return index < kOpCodeLimit ? kByOpcode[index] : nullptr;
}

}  // namespace model
