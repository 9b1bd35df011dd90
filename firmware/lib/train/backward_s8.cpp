#include "backward_s8.h"

#include <cstring>

#include "dsp.h"

namespace train {

namespace {

namespace dsp = kernels::dsp;

/// The input row (or column) a filter tap reads for an output position, -1 when in the padding.
/// `tap`: the tap's offset in the window (its index times the dilation).
inline int32_t input_index(int32_t out, int32_t stride, int32_t tap, int32_t pad, int32_t size) {
  const int32_t at = out * stride + tap - pad;
  return at >= 0 && at < size ? at : -1;
}

// Pointwise steps (1x1 filter, stride 1, no padding) are matrix products and run on the DSP's dual
// 16-bit multiply-accumulate, dsp::smlad_2x2_blocks: 2 x 2 blocks of dot products, per four terms
// one LDM and two LDRDs feeding eight SMLADs (0.7 instructions a MAC). FULLY_CONNECTED (a single
// position: nothing to pair) computes each weight's gradient as one product and keeps the row loop
// for its input error.
// Its operands are int16 "pair rows" in the scratch: rows in pairs, and per group of four values
// of the summed dimension the pair's first row (v0, v1), (v2, v3), then its second row. Lanes past
// a row's length are zero on one side, so whole groups run; a missing second row repeats the first
// (or is left as it is) and its results are dropped. The native build runs the same packing and
// loops through dsp.h's portable twins.

inline bool is_pointwise(const ConvGeometry& g) {
  return g.kh == 1 && g.kw == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_top == 0 && g.pad_left == 0;
}

/// The input error runs as blocks when there are positions to pair: a single one (FULLY_CONNECTED)
/// would waste half of each block, and the row loop skipping zero errors is faster there.
inline bool has_pointwise_error(const ConvGeometry& g) { return is_pointwise(g) && g.out.n * g.out.h * g.out.w > 1; }

inline int32_t groups_of(int32_t depth) { return (depth + 3) / 4; }
inline int32_t pairs_of(int32_t rows) { return (rows + 1) / 2; }

/// Words of `rows` pair rows `depth` values long.
inline uint32_t pair_rows_words(int32_t rows, int32_t depth) {
  return static_cast<uint32_t>(pairs_of(rows) * groups_of(depth) * 4);
}

/// Packs two rows, a[k * stride] + offset and b[k * stride] + offset for k < count, as the pair
/// rows whose first group is at `pair`; lanes past count are left as they are.
void pack_pair(uint32_t* pair, const int8_t* a, const int8_t* b, int32_t stride, int32_t count, int32_t offset) {
  int32_t k = 0;
  for (; k + 4 <= count; k += 4, a += 4 * stride, b += 4 * stride, pair += 4) {
    pair[0] = dsp::pkhbt_lsl16(a[0] + offset, a[stride] + offset);
    pair[1] = dsp::pkhbt_lsl16(a[2 * stride] + offset, a[3 * stride] + offset);
    pair[2] = dsp::pkhbt_lsl16(b[0] + offset, b[stride] + offset);
    pair[3] = dsp::pkhbt_lsl16(b[2 * stride] + offset, b[3 * stride] + offset);
  }
  int16_t* lanes = reinterpret_cast<int16_t*>(pair);
  for (int32_t j = 0; k < count; ++k, ++j, a += stride, b += stride) {
    lanes[j] = static_cast<int16_t>(*a + offset);
    lanes[4 + j] = static_cast<int16_t>(*b + offset);
  }
}

/// Scratch of the pointwise weight gradient: x - z_x as C_in pair rows over the positions, one
/// pair of planned channels' errors over the positions, and their gradients (2 x 2 blocks). A
/// single position (FULLY_CONNECTED) needs one gradient row: each weight's gradient is one product.
uint32_t pointwise_weight_scratch_bytes(int32_t positions, int32_t c_in) {
  if (positions == 1) return 4u * static_cast<uint32_t>(c_in);  // as the general loop's
  return 4u * (pair_rows_words(c_in, positions) + pair_rows_words(2, positions) + 4u * pairs_of(c_in));
}

/// Scratch of the pointwise input error: the channel-scaled errors as pair rows (one per
/// position) over C_out, one pair of filter columns over C_out, and the accumulators (2 x 2
/// blocks of (position pair) x (input channel pair)).
uint32_t pointwise_error_scratch_bytes(int32_t positions, int32_t c_in, int32_t c_out) {
  return 4u * (pair_rows_words(positions, c_out) + pair_rows_words(2, c_out) +
               4u * static_cast<uint32_t>(pairs_of(positions) * pairs_of(c_in)));
}

/// The channel-scaled errors h[p, o] (channel_scaled) of one position as the pair rows' row p.
/// channel_scaled's (e * bm + 2^26) >> 27 is (32 e * bm + 2^31) >> 32, one SMMULR, exact.
void pack_scaled_row(uint32_t* row, const int8_t* e, const int32_t* back_multiplier, int32_t c_out) {
  int32_t o = 0;
  for (; o + 4 <= c_out; o += 4, row += 4) {
    row[0] = dsp::pkhbt_lsl16(dsp::smmlar(e[o] * 32, back_multiplier[o], 0),
                              dsp::smmlar(e[o + 1] * 32, back_multiplier[o + 1], 0));
    row[1] = dsp::pkhbt_lsl16(dsp::smmlar(e[o + 2] * 32, back_multiplier[o + 2], 0),
                              dsp::smmlar(e[o + 3] * 32, back_multiplier[o + 3], 0));
  }
  int16_t* lanes = reinterpret_cast<int16_t*>(row);
  for (int32_t j = 0; o < c_out; ++o, ++j) lanes[j] = static_cast<int16_t>(channel_scaled(e[o], back_multiplier[o]));
}

}  // namespace

const int32_t* pointwise_error_blocks(const ConvGeometry& g, const int8_t* e, const int8_t* filter,
                                      const int32_t* back_multiplier, uint8_t* scratch) {
  const int32_t positions = g.out.n * g.out.h * g.out.w, c_in = g.in.c, c_out = g.out.c;
  const int32_t groups = groups_of(c_out), position_pairs = pairs_of(positions);
  uint32_t* h = reinterpret_cast<uint32_t*>(scratch);
  uint32_t* columns = h + pair_rows_words(positions, c_out);
  int32_t* blocks = reinterpret_cast<int32_t*>(columns + pair_rows_words(2, c_out));
  // The columns' lanes past C_out stay zero, so h's need no clearing; an odd last position's
  // partner is zero so that its results (never written out) do not raise the peak.
  std::memset(columns, 0, 4u * pair_rows_words(2, c_out));
  if (positions % 2 != 0) std::memset(h + (positions / 2) * groups * 4, 0, 4u * pair_rows_words(2, c_out));
  for (int32_t p = 0; p < positions; ++p)
    pack_scaled_row(h + ((p / 2) * groups * 4 + (p % 2) * 2), e + p * c_out, back_multiplier, c_out);
  for (int32_t c = 0; c < c_in; c += 2) {  // an odd last input channel: row 1 repeats row 0
    pack_pair(columns, filter + c, filter + c + (c + 1 < c_in ? 1 : 0), c_in, c_out, 0);
    dsp::smlad_2x2_blocks(h, columns, groups, position_pairs, blocks + (c / 2) * position_pairs * 4);
  }
  return blocks;
}

namespace {

/// conv_input_error of a pointwise step: v[p, c] = sum_o W[o, c] * h[p, o], per input channel pair
/// its packed filter columns against every position pair.
int pointwise_input_error(const ConvGeometry& g, const int8_t* e, const int8_t* filter,
                          const int32_t* back_multiplier, int8_t* in_error, uint8_t* scratch) {
  const int32_t positions = g.out.n * g.out.h * g.out.w, c_in = g.in.c;
  const int32_t position_pairs = pairs_of(positions), channel_pairs = pairs_of(c_in);
  const int32_t* blocks = pointwise_error_blocks(g, e, filter, back_multiplier, scratch);
  const int32_t count = channel_pairs * position_pairs * 4;
  uint32_t peak = 0;
  for (int32_t i = 0; i < count; ++i) peak = magnitude(blocks[i]) > peak ? magnitude(blocks[i]) : peak;
  const int shift = normalise_shift(peak);
  // normalised() in 32 bits: (v + 2^(shift - 1)) >> shift is (v >> shift) plus bit shift - 1 of v,
  // which cannot overflow; with shift 0 the values are already within [-127, 127].
  auto normalised = [shift](int32_t v) {
    if (shift == 0) return static_cast<int8_t>(v);
    const int32_t r = dsp::ssat8((v >> shift) + ((v >> (shift - 1)) & 1));
    return static_cast<int8_t>(r < -127 ? -127 : r);
  };
  // Block (c / 2, p / 2) holds v[p, c], v[p, c + 1], v[p + 1, c], v[p + 1, c + 1].
  const int32_t* v = blocks;
  for (int32_t c = 0; c < c_in; c += 2)
    for (int32_t p = 0; p < positions; p += 2, v += 4) {
      int8_t* out = in_error + p * c_in + c;
      const bool second_c = c + 1 < c_in, second_p = p + 1 < positions;
      out[0] = normalised(v[0]);
      if (second_c) out[1] = normalised(v[1]);
      if (second_p) out[c_in] = normalised(v[2]);
      if (second_c && second_p) out[c_in + 1] = normalised(v[3]);
    }
  return shift;
}

/// conv_weight_update of a pointwise step: the planned channels two at a time, each pair's
/// gradients as 2 x 2 blocks of (input channel pair) x (the two channels), then updated in order.
void pointwise_weight_update(const ConvGeometry& g, const int8_t* e, const int8_t* x, int32_t x_zero_point,
                             int8_t* filter, const ChannelUpdate& u, Xorshift32& rng, uint8_t* scratch) {
  const int32_t positions = g.out.n * g.out.h * g.out.w, c_in = g.in.c, c_out = g.out.c;
  if (positions == 1) {
    int32_t* gradient = reinterpret_cast<int32_t*>(scratch);
    for (int32_t k = 0; k < u.count; ++k) {
      const int32_t o = u.channels[k], ev = e[o];
      for (int32_t c = 0; c < c_in; ++c) gradient[c] = ev * (x[c] - x_zero_point);
      update_weights(filter + o * c_in, 1, gradient, 1, c_in, fixed_factor(u.lr, u.factors[o]), u.exponent, rng);
    }
    return;
  }
  const int32_t groups = groups_of(positions);
  uint32_t* xs = reinterpret_cast<uint32_t*>(scratch);
  uint32_t* es = xs + pair_rows_words(c_in, positions);
  // Block i holds the gradients of input channels 2i and 2i + 1 for the pair's two channels:
  // channel r's gradient of input channel c is gradient[2 c + r].
  int32_t* gradient = reinterpret_cast<int32_t*>(es + pair_rows_words(2, positions));
  // The errors' lanes past the positions stay zero, so xs's need no clearing.
  std::memset(es, 0, 4u * pair_rows_words(2, positions));
  for (int32_t c = 0; c < c_in; c += 2)  // an odd last input channel: row 1 repeats row 0
    pack_pair(xs + (c / 2) * groups * 4, x + c, x + c + (c + 1 < c_in ? 1 : 0), c_in, positions, -x_zero_point);
  for (int32_t k = 0; k < u.count; k += 2) {
    const int32_t pair = u.count - k < 2 ? 1 : 2;  // an odd last channel: row 1 repeats row 0, dropped
    pack_pair(es, e + u.channels[k], e + u.channels[k + pair - 1], c_out, positions, 0);
    dsp::smlad_2x2_blocks(xs, es, groups, pairs_of(c_in), gradient);
    for (int32_t r = 0; r < pair; ++r) {
      const int32_t o = u.channels[k + r];
      update_weights(filter + o * c_in, 1, gradient + r, 2, c_in, fixed_factor(u.lr, u.factors[o]), u.exponent,
                     rng);
    }
  }
}

/// The weights' updates when 32 <= R <= 62 (update_weights): `state` is the PRNG's, returned
/// advanced. kGradientStride words between gradients.
template <int kGradientStride>
uint32_t fast_updates(int8_t* w, int32_t stride, const int32_t* gradient, int32_t count, int32_t m, int shift,
                      uint32_t state) {
  // README's ((t >> (R - 16)) + r) >> 16 is floor((t + r * 2^(R - 16)) / 2^R) (floors of integer
  // divisions compose), and for 32 <= R <= 62 the sum fits an int64 and the result an int32: one
  // SMLAL of g * M onto r * 2^(R - 16), its high word shifted right by R - 32. Splitting
  // r * 2^(R - 16) into words from u = r * 2^15 keeps both shifts within [1, 31]. Past 255 in
  // size every delta clamps an int8 weight alike, so two SSATs clamp in 32 bits.
  const int a = shift - 16, high_shift = 47 - a, low_shift = a - 15, delta_shift = shift - 32;
  const int8_t* const end = w + count * stride;
  if (count <= 0) return state;
#if defined(__ARM_FEATURE_DSP)
  // GCC's loop took 24 instructions a weight; this one takes 21. Per weight: the draw (three EORs),
  // r * 2^(R - 16) into low:high, SMLAL, the shift, SSAT #9, the subtraction, SSAT #8 and -128
  // raised to -127 (int8 weights are symmetric).
  uint32_t low, high, t;
  __asm__ volatile(
      "1:\n\t"
      "eor %[s], %[s], %[s], lsl #13\n\t"
      "eor %[s], %[s], %[s], lsr #17\n\t"
      "eor %[s], %[s], %[s], lsl #5\n\t"
      "lsr %[low], %[s], #16\n\t"
      "lsl %[low], %[low], #15\n\t"
      "lsr %[high], %[low], %[hs]\n\t"
      "lsl %[low], %[low], %[ls]\n\t"
      "ldr %[t], [%[g]], %[g_step]\n\t"
      "smlal %[low], %[high], %[t], %[m]\n\t"
      "asr %[high], %[high], %[ds]\n\t"
      "ssat %[high], #9, %[high]\n\t"
      "ldrsb %[t], [%[w]]\n\t"
      "sub %[t], %[t], %[high]\n\t"
      "ssat %[t], #8, %[t]\n\t"
      "cmn %[t], #128\n\t"
      "it eq\n\t"
      "mvneq %[t], #126\n\t"
      "strb %[t], [%[w]]\n\t"
      "add %[w], %[w], %[stride]\n\t"
      "cmp %[w], %[end]\n\t"
      "bne 1b\n\t"
      : [s] "+r"(state), [w] "+r"(w), [g] "+r"(gradient), [low] "=&r"(low), [high] "=&r"(high), [t] "=&r"(t)
      : [end] "r"(end), [m] "r"(m), [hs] "r"(high_shift), [ls] "r"(low_shift), [ds] "r"(delta_shift),
        [stride] "r"(stride), [g_step] "i"(4 * kGradientStride)
      : "cc", "memory");
#else
  for (; w != end; w += stride, gradient += kGradientStride) {
    state ^= state << 13;  // Xorshift32::next, inline
    state ^= state >> 17;
    state ^= state << 5;
    const uint32_t u = (state >> (32 - kRandomBits)) << 15;
    const uint64_t rounding = (static_cast<uint64_t>(u >> high_shift) << 32) | (u << low_shift);
    const int64_t sum = static_cast<int64_t>(rounding) + static_cast<int64_t>(*gradient) * m;
    const int32_t delta = static_cast<int32_t>(sum >> 32) >> delta_shift;
    const int32_t v = dsp::ssat8(*w - dsp::ssat9(delta));
    *w = static_cast<int8_t>(v < -kWeightLimit ? -kWeightLimit : v);
  }
#endif
  return state;
}

}  // namespace

void update_weights(int8_t* w, int32_t stride, const int32_t* gradient, int32_t gradient_stride, int32_t count,
                    FixedFactor f, int k, Xorshift32& rng) {
  const int shift = 31 + k - f.e;
  if (shift < 32 || shift > 62) {
    for (int32_t i = 0; i < count; ++i)
      w[i * stride] = updated_weight(w[i * stride], weight_delta(gradient[i * gradient_stride], f, k, rng.draw16()));
    return;
  }
  // The draws run on a local copy of the state: through the reference, every weight's byte store
  // (which may alias anything) would write it back.
  rng.state = gradient_stride == 2   ? fast_updates<2>(w, stride, gradient, count, f.m, shift, rng.state)
              : gradient_stride == 0 ? fast_updates<0>(w, stride, gradient, count, f.m, shift, rng.state)
                                     : fast_updates<1>(w, stride, gradient, count, f.m, shift, rng.state);
}

void make_mask(const int8_t* y, int32_t n, int32_t act_min, int32_t act_max, uint8_t* mask) {
  std::memset(mask, 0, static_cast<size_t>((n + 7) / 8));
  for (int32_t i = 0; i < n; ++i)
    if (y[i] > act_min && y[i] < act_max) mask[i >> 3] |= static_cast<uint8_t>(1u << (i & 7));
}

void apply_mask(int8_t* e, const uint8_t* mask, int32_t n) {
  // Eight elements a mask byte, as two words each ANDed with its nibble's byte mask.
  static constexpr uint32_t kBytes[16] = {0x00000000u, 0x000000FFu, 0x0000FF00u, 0x0000FFFFu, 0x00FF0000u, 0x00FF00FFu,
                                          0x00FFFF00u, 0x00FFFFFFu, 0xFF000000u, 0xFF0000FFu, 0xFF00FF00u, 0xFF00FFFFu,
                                          0xFFFF0000u, 0xFFFF00FFu, 0xFFFFFF00u, 0xFFFFFFFFu};
  int32_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint32_t bits = mask[i >> 3];
    const uint32_t low = dsp::read_u32(e + i) & kBytes[bits & 15u], high = dsp::read_u32(e + i + 4) & kBytes[bits >> 4];
    std::memcpy(e + i, &low, 4);
    std::memcpy(e + i + 4, &high, 4);
  }
  for (; i < n; ++i)
    if (((mask[i >> 3] >> (i & 7)) & 1u) == 0) e[i] = 0;
}

uint32_t conv_input_error_scratch_bytes(const ConvGeometry& g) {
  if (has_pointwise_error(g)) return pointwise_error_scratch_bytes(g.out.n * g.out.h * g.out.w, g.in.c, g.out.c);
  return 4u * static_cast<uint32_t>(g.in.elements()) + 2u * static_cast<uint32_t>(g.out.elements());
}

uint32_t conv_weight_update_scratch_bytes(const ConvGeometry& g) {
  if (is_pointwise(g)) return pointwise_weight_scratch_bytes(g.out.n * g.out.h * g.out.w, g.in.c);
  return 4u * static_cast<uint32_t>(g.kh * g.kw * g.in.c);
}

uint32_t conv_scratch_bytes(const ConvGeometry& g, bool input_error, bool weights) {
  const uint32_t a = input_error ? conv_input_error_scratch_bytes(g) : 0u;
  const uint32_t b = weights ? conv_weight_update_scratch_bytes(g) : 0u;
  return a > b ? a : b;
}

int conv_input_error(const ConvGeometry& g, const int8_t* e, const int8_t* filter, const int32_t* back_multiplier,
                     int8_t* in_error, uint8_t* scratch) {
  if (has_pointwise_error(g)) return pointwise_input_error(g, e, filter, back_multiplier, in_error, scratch);
  const int32_t in_elements = g.in.elements(), out_elements = g.out.elements();
  const int32_t c_out = g.out.c, c_in = g.in.c;
  int32_t* acc = reinterpret_cast<int32_t*>(scratch);
  int16_t* h = reinterpret_cast<int16_t*>(scratch + 4u * static_cast<uint32_t>(in_elements));
  for (int32_t i = 0; i < out_elements; ++i)
    h[i] = static_cast<int16_t>(channel_scaled(e[i], back_multiplier[i % c_out]));
  std::memset(acc, 0, 4u * static_cast<uint32_t>(in_elements));
  for (int32_t n = 0; n < g.out.n; ++n)
    for (int32_t oy = 0; oy < g.out.h; ++oy)
      for (int32_t ox = 0; ox < g.out.w; ++ox) {
        const int16_t* h_row = h + ((n * g.out.h + oy) * g.out.w + ox) * c_out;
        for (int32_t i = 0; i < g.kh; ++i) {
          const int32_t iy = input_index(oy, g.stride_h, i * g.dilation_h, g.pad_top, g.in.h);
          if (iy < 0) continue;
          for (int32_t j = 0; j < g.kw; ++j) {
            const int32_t ix = input_index(ox, g.stride_w, j * g.dilation_w, g.pad_left, g.in.w);
            if (ix < 0) continue;
            int32_t* a = acc + ((n * g.in.h + iy) * g.in.w + ix) * c_in;
            for (int32_t o = 0; o < c_out; ++o) {
              const int32_t hv = h_row[o];
              if (hv == 0) continue;
              const int8_t* w = filter + ((o * g.kh + i) * g.kw + j) * c_in;
              for (int32_t c = 0; c < c_in; ++c) a[c] += w[c] * hv;
            }
          }
        }
      }
  return normalise_into(acc, in_elements, in_error);
}

void conv_bias_update(const ConvGeometry& g, const int8_t* e, int32_t* bias, const ChannelUpdate& u) {
  const int32_t positions = g.out.n * g.out.h * g.out.w, c_out = g.out.c;
  for (int32_t k = 0; k < u.count;) {
    const int32_t o = u.channels[k];
    int32_t sum[4] = {0, 0, 0, 0};
    // Four planned channels in a row: one word of errors a position, summed in int16 lanes by
    // SXTAB16 (channels o, o + 2) and SXTAB16 ROR 8 (o + 1, o + 3), flushed before 258 positions
    // of 127 could overflow a lane.
    const bool quad = k + 4 <= u.count && u.channels[k + 1] == o + 1 && u.channels[k + 2] == o + 2 &&
                      u.channels[k + 3] == o + 3;
    const int32_t lanes = quad ? 4 : 1;
    if (quad) {
      constexpr int32_t kChunk = 258;
      for (int32_t p0 = 0; p0 < positions; p0 += kChunk) {
        uint32_t even = 0, odd = 0;
        const int8_t* at = e + p0 * c_out + o;
        for (const int8_t* const end = at + (positions - p0 < kChunk ? positions - p0 : kChunk) * c_out; at != end;
             at += c_out) {
          const uint32_t word = dsp::read_u32(at);
          even = dsp::sxtab16(even, word);
          odd = dsp::sxtab16_ror8(odd, word);
        }
        sum[0] += dsp::bottom(even), sum[1] += dsp::bottom(odd), sum[2] += dsp::top(even), sum[3] += dsp::top(odd);
      }
    } else {
      for (int32_t p = 0; p < positions; ++p) sum[0] += e[p * c_out + o];
    }
    for (int32_t lane = 0; lane < lanes; ++lane, ++k)
      bias[o + lane] = updated_bias(bias[o + lane], bias_delta(sum[lane], fixed_factor(u.lr, u.factors[o + lane]),
                                                               u.exponent));
  }
}

void conv_weight_update(const ConvGeometry& g, const int8_t* e, const int8_t* x, int32_t x_zero_point,
                        int8_t* filter, const ChannelUpdate& u, Xorshift32& rng, uint8_t* scratch) {
  if (is_pointwise(g)) return pointwise_weight_update(g, e, x, x_zero_point, filter, u, rng, scratch);
  const int32_t c_out = g.out.c, c_in = g.in.c;
  const int32_t row_elements = g.kh * g.kw * c_in;
  // One output channel's gradient at a time (never the whole layer's), accumulated position by
  // position so that the inner loop runs over contiguous input channels and skips the positions
  // whose error is zero (the ReLU masks zero many).
  int32_t* gradient = reinterpret_cast<int32_t*>(scratch);
  for (int32_t k = 0; k < u.count; ++k) {
    const int32_t o = u.channels[k];
    std::memset(gradient, 0, 4u * static_cast<uint32_t>(row_elements));
    for (int32_t n = 0; n < g.out.n; ++n)
      for (int32_t oy = 0; oy < g.out.h; ++oy)
        for (int32_t ox = 0; ox < g.out.w; ++ox) {
          const int32_t ev = e[((n * g.out.h + oy) * g.out.w + ox) * c_out + o];
          if (ev == 0) continue;
          for (int32_t i = 0; i < g.kh; ++i) {
            const int32_t iy = input_index(oy, g.stride_h, i * g.dilation_h, g.pad_top, g.in.h);
            if (iy < 0) continue;
            for (int32_t j = 0; j < g.kw; ++j) {
              const int32_t ix = input_index(ox, g.stride_w, j * g.dilation_w, g.pad_left, g.in.w);
              if (ix < 0) continue;
              const int8_t* x_row = x + ((n * g.in.h + iy) * g.in.w + ix) * c_in;
              int32_t* g_row = gradient + (i * g.kw + j) * c_in;
              for (int32_t c = 0; c < c_in; ++c) g_row[c] += ev * (x_row[c] - x_zero_point);
            }
          }
        }
    update_weights(filter + o * row_elements, 1, gradient, 1, row_elements, fixed_factor(u.lr, u.factors[o]),
                   u.exponent, rng);
  }
}

int mean_input_error(const int8_t* e, const kernels::Dims& in, int32_t axes, int32_t reciprocal, int8_t* in_error) {
  const kernels::Dims out = kernels::mean_output_dims(in, axes);
  uint32_t peak = 0;
  for (int32_t i = 0; i < out.elements(); ++i) {
    const uint32_t m = magnitude(e[i] * reciprocal);
    peak = m > peak ? m : peak;
  }
  const int shift = normalise_shift(peak);
  // Index 0 along a reduced dimension of the output, the input's index along the others.
  const bool rn = out.n != in.n, rh = out.h != in.h, rw = out.w != in.w, rc = out.c != in.c;
  for (int32_t n = 0; n < in.n; ++n)
    for (int32_t h = 0; h < in.h; ++h)
      for (int32_t w = 0; w < in.w; ++w)
        for (int32_t c = 0; c < in.c; ++c) {
          const int32_t at = (((rn ? 0 : n) * out.h + (rh ? 0 : h)) * out.w + (rw ? 0 : w)) * out.c + (rc ? 0 : c);
          *in_error++ = normalised(e[at] * reciprocal, shift);
        }
  return shift;
}

}  // namespace train
