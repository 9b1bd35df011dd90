#include "concatenation_s8.h"

#include <cstring>

namespace kernels {

namespace {

int32_t dim(const Dims& d, int32_t axis) {
  const int32_t all[4] = {d.n, d.h, d.w, d.c};
  return all[axis];
}

/// Elements before the axis (the number of blocks) and from the axis on (one block's size).
int32_t outer(const Dims& d, int32_t axis) {
  int32_t product = 1;
  for (int32_t a = 0; a < axis; ++a) product *= dim(d, a);
  return product;
}

int32_t inner(const Dims& d, int32_t axis) {
  int32_t product = 1;
  for (int32_t a = axis + 1; a < 4; ++a) product *= dim(d, a);
  return product;
}

/// part_dims equals whole_dims but along the axis.
bool same_but_axis(const Dims& part, const Dims& whole, int32_t axis) {
  for (int32_t a = 0; a < 4; ++a)
    if (a != axis && dim(part, a) != dim(whole, a)) return false;
  return true;
}

}  // namespace

Status concatenation_s8(const ConcatenationParams& params, int32_t count, const Dims* input_dims,
                        const int8_t* const* inputs, const Dims& output_dims, int8_t* output) {
  const int32_t axis = params.axis;
  if (axis < 0 || axis > 3 || count < 1 || count > kMaxConcatenationInputs) return Status::kBadParams;
  int32_t along = 0;
  for (int32_t i = 0; i < count; ++i) {
    if (!same_but_axis(input_dims[i], output_dims, axis)) return Status::kBadShape;
    along += dim(input_dims[i], axis);
  }
  if (along != dim(output_dims, axis)) return Status::kBadShape;
  const int32_t blocks = outer(output_dims, axis);
  const int32_t unit = inner(output_dims, axis);
  for (int32_t b = 0; b < blocks; ++b) {
    for (int32_t i = 0; i < count; ++i) {
      const int32_t bytes = dim(input_dims[i], axis) * unit;
      std::memcpy(output, inputs[i] + b * bytes, static_cast<size_t>(bytes));
      output += bytes;
    }
  }
  return Status::kOk;
}

Status concatenation_part_s8(const ConcatenationParams& params, const Dims& whole_dims, const int8_t* whole,
                             int32_t start, const Dims& part_dims, int8_t* part) {
  const int32_t axis = params.axis;
  if (axis < 0 || axis > 3) return Status::kBadParams;
  if (!same_but_axis(part_dims, whole_dims, axis) || start < 0 ||
      start + dim(part_dims, axis) > dim(whole_dims, axis))
    return Status::kBadShape;
  const int32_t unit = inner(whole_dims, axis);
  const int32_t whole_bytes = dim(whole_dims, axis) * unit;
  const int32_t part_bytes = dim(part_dims, axis) * unit;
  const int32_t blocks = outer(whole_dims, axis);
  for (int32_t b = 0; b < blocks; ++b)
    std::memcpy(part + b * part_bytes, whole + b * whole_bytes + start * unit, static_cast<size_t>(part_bytes));
  return Status::kOk;
}

}  // namespace kernels
