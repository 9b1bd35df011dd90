// The backward kernels of the ops that move or average activations without weights:
// AVERAGE_POOL_2D, MAX_POOL_2D and PAD (README.md beside this file, "Backward kernels"; numpy twins:
// quantize/training/backward.py average_pool_input_error, max_pool_input_error, pad_input_error).
#pragma once

#include <cstdint>

#include "kernel_types.h"
#include "pad_s8.h"
#include "pool_s8.h"

namespace train {

/// Windows covering one input element at most (ceil(KH / stride_h) * ceil(KW / stride_w)):
/// |e| * 2^16 per window keeps the int32 sum below 2^31.
constexpr int32_t kMaxPoolWindows = 256;

/// AVERAGE_POOL_2D: e [N, OH, OW, C] -> in_error [N, H, W, C] (not aliasing e), each window's
/// e * (2^16 + count / 2) / count spread over the input elements it covers (count: those
/// elements). Returns the normalisation shift (the exponent gains 16).
int average_pool_input_error(const kernels::PoolParams& p, const kernels::Dims& in, const kernels::Dims& out,
                             const int8_t* e, int8_t* in_error);

/// MAX_POOL_2D: e [N, OH, OW, C] -> in_error [N, H, W, C] (not aliasing e), each window's error
/// given to the input element holding its maximum (the first in row-major order within the clipped
/// window where several do), overlapping windows adding up. x: the pool's input [N, H, W, C].
/// Returns the normalisation shift (the exponent loses it).
int max_pool_input_error(const kernels::PoolParams& p, const kernels::Dims& in, const kernels::Dims& out,
                         const int8_t* x, const int8_t* e, int8_t* in_error);

/// PAD: the error of the unpadded region, in_error [in] = e [out] cropped by p.before (the
/// exponent is unchanged). out = in + before + after in every dimension (the caller checked).
void pad_input_error(const kernels::PadParams& p, const kernels::Dims& in, const kernels::Dims& out, const int8_t* e,
                     int8_t* in_error);

}  // namespace train
