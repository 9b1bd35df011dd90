#include "mul_s8.h"

#include "requantize.h"

namespace kernels {

Status mul_s8(const MulParams& p, const Dims& output_dims, const int8_t* input1, const BroadcastStrides& s1,
              const int8_t* input2, const BroadcastStrides& s2, int8_t* output) {
  const MulParams q = p;  // the byte stores may alias anything behind p
  broadcast_s8(output_dims, input1, s1, input2, s2, output, [&q](int8_t a, int8_t b) {
    const int32_t product = (a + q.input1_offset) * (b + q.input2_offset);
    const int32_t v = multiply_by_quantized_multiplier(product, q.output_multiplier, q.output_shift);
    return clamp_to_int8(v + q.output_offset, q.act.min, q.act.max);
  });
  return Status::kOk;
}

}  // namespace kernels
