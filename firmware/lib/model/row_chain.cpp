#include "row_chain.h"

#include <cstring>

#include "conv2d_s8.h"
#include "depthwise_conv2d_s8.h"
#include "fused_block.h"

namespace model {

namespace {

inline int32_t min32(int32_t a, int32_t b) { return a < b ? a : b; }
inline int32_t max32(int32_t a, int32_t b) { return a > b ? a : b; }

/// A stage's geometry: its input's shape, its filter's, its output's.
struct StageShape {
  kernels::Dims in, filter, out;
};

StageShape stage_shape(const RowChainParams& p, uint32_t j, const TensorRecord& input, const TensorRecord* tensors) {
  const RowChainStage& s = p.stages[j];
  kernels::Dims in = dims_of(input);
  if (j > 0) {
    const RowChainStage& prev = p.stages[j - 1];
    in = {1, prev.out_h, prev.out_w, prev.out_c};
  }
  return {in, dims_of(tensors[s.filter]), {1, s.out_h, s.out_w, s.out_c}};
}

/// Input rows a band of `rows` output rows reads at most.
inline int32_t band_input_rows(const RowChainStage& s, int32_t kh, int32_t rows, int32_t in_h) {
  return min32((rows - 1) * s.conv.conv.stride_h + kh, in_h);
}

/// One stage bound for a run: kernels' operands and its output window.
struct BoundStage {
  const RowChainStage* s;
  kernels::PerChannelQuant quant;
  const int8_t* filter;  // nullptr when packed
  kernels::PackedFilter packed;
  kernels::Dims in, filter_dims;
  const int32_t* bias;
  int8_t* window;       // its output rows [first, first + count), contiguous
  int32_t first, count;
  int32_t row_bytes;    // one output row
};

class Chain {
 public:
  Chain(const RowChainParams& p, const RowChainTensors& t) : n_(static_cast<int32_t>(p.num_stages)), t_(t) {
    for (int32_t j = 0; j < n_; ++j) {
      const RowChainStage& s = p.stages[j];
      const TensorRecord& f = t.tensors[s.filter];
      const StageShape shape = stage_shape(p, static_cast<uint32_t>(j), *t.input, t.tensors);
      const bool is_packed_filter = is_packed(f.type);
      stages_[j] = {&s,
                    channel_arrays(t.data, s.conv.multiplier_offset, s.conv.shift_offset),
                    is_packed_filter ? nullptr : reinterpret_cast<const int8_t*>(t.data + f.offset),
                    packed_filter(f, t.data),
                    shape.in,
                    shape.filter,
                    s.bias == kNoTensor ? nullptr : reinterpret_cast<const int32_t*>(t.data + t.tensors[s.bias].offset),
                    reinterpret_cast<int8_t*>(t.arena + s.window_offset),
                    0,
                    0,
                    int32_t{s.out_w} * s.out_c};
    }
  }

  void run() {
    BoundStage& last = stages_[n_ - 1];
    const int32_t out_h = last.s->out_h, rows = last.s->rows;
    for (int32_t y = 0; y < out_h; y += rows) {
      compute(n_ - 1, y, min32(rows, out_h - y), t_.output_data + y * last.row_bytes);
    }
  }

 private:
  /// Makes stage j's window hold its output rows [lo, hi) (lo never decreases). Rows are computed
  /// in bands of up to the stage's rows, ahead of what is asked as far as the window has room; the
  /// rows above lo are dropped (a memmove to the window's start) only when a band would not fit.
  void fill(int32_t j, int32_t lo, int32_t hi) {
    BoundStage& st = stages_[j];
    const int32_t capacity = st.s->window_rows, out_h = st.s->out_h;
    if (st.first + st.count <= lo) {  // nothing kept is read again: start over at lo
      st.first = lo;
      st.count = 0;
    }
    while (st.first + st.count < hi) {
      const int32_t y = st.first + st.count;
      const int32_t band = min32(st.s->rows, out_h - y);
      if (st.count + band > capacity && lo > st.first) {  // slide: drop the rows above lo
        const int32_t drop = lo - st.first;
        std::memmove(st.window, st.window + drop * st.row_bytes, static_cast<size_t>((st.count - drop) * st.row_bytes));
        st.count -= drop;
        st.first = lo;
      }
      const int32_t rows = min32(band, capacity - st.count);
      compute(j, y, rows, st.window + st.count * st.row_bytes);
      st.count += rows;
    }
  }

  /// Computes stage j's output rows [y, y + rows) into `out`.
  void compute(int32_t j, int32_t y, int32_t rows, int8_t* out) {
    const BoundStage& st = stages_[j];
    const kernels::ConvParams& conv = st.s->conv.conv;
    const int32_t top = y * conv.stride_h - conv.pad_top;
    const int32_t lo = max32(top, 0);
    const int32_t hi = min32((y + rows - 1) * conv.stride_h - conv.pad_top + st.filter_dims.h, st.in.h);
    const int32_t in_row_bytes = st.in.w * st.in.c;
    const int8_t* input = nullptr;  // input rows [lo, hi), contiguous
    if (j == 0) {
      input = t_.input_data + lo * in_row_bytes;
    } else {
      fill(j - 1, lo, hi);
      const BoundStage& prev = stages_[j - 1];
      input = prev.window + (lo - prev.first) * prev.row_bytes;
    }
    kernels::ConvParams params = conv;
    params.pad_top = lo - top;  // taps above the image are skipped, as in the full kernel
    const kernels::Dims in{1, hi - lo, st.in.w, st.in.c};
    const kernels::Dims out_dims{1, rows, st.s->out_w, st.s->out_c};
    if (st.s->depthwise) {
      kernels::depthwise_conv2d_s8(params, st.quant, in, input, st.filter_dims, st.filter, st.bias, out_dims, out,
                                   t_.scratch);
    } else {
      kernels::conv2d_s8(params, st.quant, in, input, st.filter_dims, st.filter, st.bias, out_dims, out, st.packed,
                         t_.scratch);
    }
  }

  int32_t n_;
  const RowChainTensors& t_;
  BoundStage stages_[kMaxChainStages];
};

}  // namespace

void run_row_chain(const RowChainParams& p, const RowChainTensors& t) { Chain(p, t).run(); }

uint32_t row_chain_scratch_bytes(const RowChainParams& p, const TensorRecord& input, const TensorRecord* tensors) {
  uint32_t most = 0;
  for (uint32_t j = 0; j < p.num_stages; ++j) {
    const RowChainStage& s = p.stages[j];
    const StageShape shape = stage_shape(p, j, input, tensors);
    const bool packed = is_packed(tensors[s.filter].type);
    const int32_t bands = min32(s.rows, s.out_h);
    for (int32_t rows = 1; rows <= bands; ++rows) {
      const int32_t most_rows = band_input_rows(s, shape.filter.h, rows, shape.in.h);
      for (int32_t in_rows = 1; in_rows <= most_rows; ++in_rows) {
        const kernels::Dims in{1, in_rows, shape.in.w, shape.in.c}, out{1, rows, s.out_w, s.out_c};
        const uint32_t need = s.depthwise ? kernels::depthwise_conv2d_s8_scratch_bytes(s.conv.conv, in, shape.filter, out)
                                          : kernels::conv2d_s8_scratch_bytes(s.conv.conv, in, shape.filter, out, packed);
        most = need > most ? need : most;
      }
    }
  }
  return most;
}

bool validate_row_chain(const OpContext& ctx) {
  const auto& p = ctx.params<RowChainParams>();
  const TensorRecord& input = ctx.input_tensor(0);
  const TensorRecord& output = ctx.output_tensor();
  const uint16_t num_tensors = ctx.header->num_tensors;
  const uint32_t arena_size = ctx.header->arena_size;
  const FusedConvCheck check = {ctx.tensors, num_tensors, ctx.data, ctx.header->data_size};
  if (p.num_stages < 2 || p.num_stages > kMaxChainStages || input.dims[0] != 1 || output.dims[0] != 1) return false;
  const OpRecord& op = *ctx.op;
  const bool scratch = op.scratch_size != 0 && fits(op.scratch_offset, op.scratch_size, arena_size);
  for (uint32_t j = 0; j < p.num_stages; ++j) {
    const RowChainStage& s = p.stages[j];
    if (s.filter >= num_tensors || s.rows == 0 || s.out_h == 0 || s.out_w == 0 || s.out_c == 0) return false;
    const StageShape shape = stage_shape(p, j, input, ctx.tensors);
    const kernels::Dims& f = shape.filter;
    const bool pointwise = f.h == 1 && f.w == 1 && s.conv.conv.stride_h == 1 && s.conv.conv.stride_w == 1;
    const bool shapes_ok = s.depthwise ? (f.n == 1 && f.c == shape.in.c && s.out_c == shape.in.c)
                                       : (f.n == s.out_c && f.c == shape.in.c);
    if (s.depthwise > 1 || !shapes_ok || !check.ok(s.conv, s.filter, s.bias, s.out_c, !s.depthwise && pointwise))
      return false;
    // Every output row's window reaches into the image.
    const int32_t stride = s.conv.conv.stride_h, pad_top = s.conv.conv.pad_top;
    if (f.h - pad_top <= 0 || (int32_t{s.out_h} - 1) * stride - pad_top >= shape.in.h) return false;
    if (j + 1 == p.num_stages) {
      if (s.window_rows != 0 || s.out_h != output.dims[1] || s.out_w != output.dims[2] || s.out_c != output.dims[3])
        return false;
      continue;
    }
    // The window holds what the next stage's band reads; in the arena, clear of everything else.
    const RowChainStage& next = p.stages[j + 1];
    if (next.filter >= num_tensors || next.rows == 0) return false;
    const int32_t next_kh = ctx.tensors[next.filter].dims[1];
    if (s.window_rows < band_input_rows(next, next_kh, next.rows, s.out_h)) return false;
    const uint32_t size = uint32_t{s.window_rows} * s.out_w * s.out_c;
    if (!fits(s.window_offset, size, arena_size) || !disjoint(s.window_offset, size, input.offset, input.size) ||
        !disjoint(s.window_offset, size, output.offset, output.size))
      return false;
    if (scratch && !disjoint(s.window_offset, size, op.scratch_offset, op.scratch_size)) return false;
    for (uint32_t k = 0; k < j; ++k) {
      const RowChainStage& other = p.stages[k];
      if (!disjoint(s.window_offset, size, other.window_offset, uint32_t{other.window_rows} * other.out_w * other.out_c))
        return false;
    }
  }
  return true;
}

}  // namespace model
