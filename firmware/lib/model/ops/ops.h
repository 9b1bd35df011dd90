// The rows of the op table (op_table.cpp), one per operator, each defined in the file that owns
// the operator: its parameter block's size, checks, kernel call and scratch.
#pragma once

#include "../op_table.h"

namespace model {
namespace ops {

extern const OpKernel kConv2d;           // conv.cpp
extern const OpKernel kDepthwiseConv2d;  // conv.cpp
extern const OpKernel kFullyConnected;   // fully_connected.cpp
extern const OpKernel kAdd;              // add.cpp
extern const OpKernel kAveragePool2d;    // pool.cpp
extern const OpKernel kMaxPool2d;        // pool.cpp
extern const OpKernel kMean;             // mean.cpp
extern const OpKernel kReshape;          // reshape.cpp
extern const OpKernel kPad;              // pad.cpp
extern const OpKernel kRequantize;       // requantize.cpp
extern const OpKernel kSoftmax;          // softmax.cpp
extern const OpKernel kInvertedResidual;  // inverted_residual.cpp
extern const OpKernel kRowChain;          // row_chain.cpp
extern const OpKernel kActivation;        // activation.cpp
extern const OpKernel kLeakyRelu;         // activation.cpp
extern const OpKernel kConcatenation;     // concatenation.cpp
extern const OpKernel kSlice;             // slice.cpp
extern const OpKernel kLut;               // activation.cpp
extern const OpKernel kMul;               // broadcast.cpp
extern const OpKernel kSub;               // broadcast.cpp

}  // namespace ops
}  // namespace model
