// Row-streamed execution of a chain of convolutions (OpCode::kRowChain).
//
// A network's first layers are its largest tensors: mbv2-w0.35-128's stem writes 64x64x16 (64 KB)
// next to its 48 KB input before any inverted-residual block runs, so streaming the blocks alone
// cannot bring the arena below the two. A chain runs CONV_2D and DEPTHWISE_CONV_2D layers whose
// intermediate tensors are each read by the next layer only (the stem into the first blocks, up to
// the first tensor another op also reads) as one op: the last stage's output rows are computed in
// bands, each pulling the rows it needs from the stage before, which pulls from the one before it,
// down to the op's input. Every intermediate keeps only a window of its rows (the rows the next
// stage's band reads), slid down with a short memmove so that the ordinary kernels run on it
// unchanged with the window's first row as their input's first row and the top padding adjusted.
// Every element is computed by the same kernels with the same arithmetic as the unfused ops, so the
// results are bit-identical; the working set shrinks to the windows.
#pragma once

#include "blob_format.h"
#include "fused_block.h"
#include "op_context.h"

namespace model {

/// The chain's operands, as a fused block's (its scratch: row_chain_scratch_bytes, 8-byte aligned).
using RowChainTensors = FusedBlockTensors;

/// Runs a validated chain.
void run_row_chain(const RowChainParams& params, const RowChainTensors& t);

/// Bytes of scratch run_row_chain's kernel calls need (besides the windows): the most any one
/// stage's call needs, for every band height up to its rows and every input height such a band
/// reads (the calls run one at a time). On a validated chain.
uint32_t row_chain_scratch_bytes(const RowChainParams& params, const TensorRecord& input,
                                 const TensorRecord* tensors);

/// Load-time checks of a kRowChain op: the stage count, each stage's filter, bias, multipliers and
/// shapes (its input is the previous stage's output), every output row reading at least one input
/// row, the last stage's shape equal to the output's, each window holding the rows the next stage's
/// band reads and lying inside the arena, clear of the input, the output, the kernel scratch and
/// the other windows.
bool validate_row_chain(const OpContext& ctx);

}  // namespace model
