#include "fully_connected_s8.h"

#include "requantize.h"

namespace kernels {

Status fully_connected_s8(const FullyConnectedParams& p, const PerChannelQuant& quant, int32_t batches, int32_t depth,
                          const int8_t* input, int32_t units, const int8_t* filter, const int32_t* bias,
                          int8_t* output) {
  if (batches <= 0 || depth <= 0 || units <= 0) return Status::kBadShape;
  for (int32_t b = 0; b < batches; ++b) {
    const int8_t* x = input + b * depth;
    for (int32_t u = 0; u < units; ++u) {
      const int8_t* w = filter + u * depth;
      int32_t acc = 0;
      for (int32_t k = 0; k < depth; ++k) acc += (w[k] + p.filter_offset) * (x[k] + p.input_offset);
      if (bias != nullptr) acc += bias[u];
      acc = multiply_by_quantized_multiplier(acc, quant.multiplier[u], quant.shift[u]) + p.output_offset;
      output[b * units + u] = clamp_to_int8(acc, p.act.min, p.act.max);
    }
  }
  return Status::kOk;
}

}  // namespace kernels
