#include "backward_pool.h"

#include <cstring>

#include "backward_s8.h"
#include "numerics.h"

namespace train {

namespace {

/// Input elements a window starting at `start` (may be negative: padding) covers along one axis.
inline int32_t covered(int32_t start, int32_t filter, int32_t size) {
  const int32_t end = start + filter < size ? start + filter : size;
  return end - (start > 0 ? start : 0);
}

/// The outputs [first, last] along one axis whose window covers input index `at`.
inline void covering(int32_t at, int32_t stride, int32_t filter, int32_t pad, int32_t size, int32_t* first,
                     int32_t* last) {
  const int32_t low = at + pad - filter + 1;  // a window covers `at` when low <= o * stride <= at + pad
  *first = low <= 0 ? 0 : (low + stride - 1) / stride;
  *last = (at + pad) / stride < size - 1 ? (at + pad) / stride : size - 1;
}

/// v[n, iy, ix, c] of README "AVERAGE_POOL_2D".
int32_t spread(const kernels::PoolParams& p, const kernels::Dims& in, const kernels::Dims& out, const int8_t* e,
               int32_t n, int32_t iy, int32_t ix, int32_t c) {
  int32_t oy0, oy1, ox0, ox1;
  covering(iy, p.stride_h, p.filter_h, p.pad_top, out.h, &oy0, &oy1);
  covering(ix, p.stride_w, p.filter_w, p.pad_left, out.w, &ox0, &ox1);
  int32_t sum = 0;
  for (int32_t oy = oy0; oy <= oy1; ++oy) {
    const int32_t rows = covered(oy * p.stride_h - p.pad_top, p.filter_h, in.h);
    for (int32_t ox = ox0; ox <= ox1; ++ox) {
      const int32_t count = rows * covered(ox * p.stride_w - p.pad_left, p.filter_w, in.w);
      sum += e[((n * out.h + oy) * out.w + ox) * out.c + c] * (((1 << 16) + count / 2) / count);
    }
  }
  return sum;
}

/// Whether input element (iy, ix) holds the first maximum of window (oy, ox), channel c.
bool holds_window_max(const kernels::PoolParams& p, const kernels::Dims& in, const int8_t* x, int32_t n, int32_t oy,
                      int32_t ox, int32_t c, int32_t iy, int32_t ix) {
  const int32_t y0 = oy * p.stride_h - p.pad_top, x0 = ox * p.stride_w - p.pad_left;
  const int32_t y_begin = y0 > 0 ? y0 : 0, x_begin = x0 > 0 ? x0 : 0;
  const int32_t y_end = y0 + p.filter_h < in.h ? y0 + p.filter_h : in.h;
  const int32_t x_end = x0 + p.filter_w < in.w ? x0 + p.filter_w : in.w;
  int32_t best_y = y_begin, best_x = x_begin;
  int8_t best = x[((n * in.h + y_begin) * in.w + x_begin) * in.c + c];
  for (int32_t y = y_begin; y < y_end; ++y)
    for (int32_t xx = x_begin; xx < x_end; ++xx) {
      const int8_t v = x[((n * in.h + y) * in.w + xx) * in.c + c];
      if (v > best) {
        best = v;
        best_y = y;
        best_x = xx;
      }
    }
  return best_y == iy && best_x == ix;
}

/// The error MAX_POOL_2D gives input element (iy, ix), channel c: the sum over the windows
/// covering it of those whose maximum it holds.
int32_t gathered(const kernels::PoolParams& p, const kernels::Dims& in, const kernels::Dims& out, const int8_t* x,
                 const int8_t* e, int32_t n, int32_t iy, int32_t ix, int32_t c) {
  int32_t oy0, oy1, ox0, ox1;
  covering(iy, p.stride_h, p.filter_h, p.pad_top, out.h, &oy0, &oy1);
  covering(ix, p.stride_w, p.filter_w, p.pad_left, out.w, &ox0, &ox1);
  int32_t sum = 0;
  for (int32_t oy = oy0; oy <= oy1; ++oy)
    for (int32_t ox = ox0; ox <= ox1; ++ox)
      if (holds_window_max(p, in, x, n, oy, ox, c, iy, ix)) sum += e[((n * out.h + oy) * out.w + ox) * out.c + c];
  return sum;
}

}  // namespace

int max_pool_input_error(const kernels::PoolParams& p, const kernels::Dims& in, const kernels::Dims& out,
                         const int8_t* x, const int8_t* e, int8_t* in_error) {
  return gather_normalised(
      in, [&](int32_t n, int32_t iy, int32_t ix, int32_t c) { return gathered(p, in, out, x, e, n, iy, ix, c); },
      in_error);
}

int average_pool_input_error(const kernels::PoolParams& p, const kernels::Dims& in, const kernels::Dims& out,
                             const int8_t* e, int8_t* in_error) {
  return gather_normalised(
      in, [&](int32_t n, int32_t iy, int32_t ix, int32_t c) { return spread(p, in, out, e, n, iy, ix, c); },
      in_error);
}

void pad_input_error(const kernels::PadParams& p, const kernels::Dims& in, const kernels::Dims& out, const int8_t* e,
                     int8_t* in_error) {
  for (int32_t n = 0; n < in.n; ++n)
    for (int32_t h = 0; h < in.h; ++h)
      for (int32_t w = 0; w < in.w; ++w) {
        const int8_t* from =
            e + (((n + p.before[0]) * out.h + h + p.before[1]) * out.w + w + p.before[2]) * out.c + p.before[3];
        std::memcpy(in_error + ((n * in.h + h) * in.w + w) * in.c, from, static_cast<size_t>(in.c));
      }
}

}  // namespace train
