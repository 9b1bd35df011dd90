"""The scratch the firmware's kernels need per op, for the memory planner to place in the arena.

Each function mirrors the C++ twin it names, condition for condition, with the same constants
(CMSIS-NN's arm_convolve_s8_get_buffer_size follows arm_convolve_s8 the same way):

    conv2d_s8_scratch_bytes               firmware/lib/kernels/conv2d_s8.cpp
    conv2d_one_channel_3x3_scratch_bytes  firmware/lib/kernels/conv2d_one_channel.cpp
    depthwise_conv2d_s8_scratch_bytes     firmware/lib/kernels/depthwise_conv2d_s8.cpp
    depthwise3x3_pairs_scratch_bytes      firmware/lib/kernels/depthwise_pairs.cpp
    inverted_residual_scratch_bytes       firmware/lib/model/fused_block.cpp
    row_chain_scratch_bytes               firmware/lib/model/row_chain.cpp

tests/test_scratch.py checks them against the C++ twins over many shapes. Sizes depend on shapes
and strides only: where the multipliers decide which of two paths runs (the output stage they
allow), the twin asks for the larger. Shapes are NHWC (n, h, w, c), filters (out_c, kh, kw, in_c),
none empty; strides and dilations at least 1 (what the firmware's load checks guarantee).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from quantize import blob as fmt

Dims = tuple[int, int, int, int]

# conv2d_s8.cpp: the tiles' budget, the groups its tiled loops take, a packed pair's constants
SCRATCH_WORDS = 1280
MAX_TILED_GROUPS = SCRATCH_WORDS // 8
PAIR_CONSTANT_WORDS = 10
# conv2d_one_channel.cpp: staged int16 rows
ONE_CHANNEL_PITCH = 128
ONE_CHANNEL_ROWS = 16
# depthwise_conv2d_s8.cpp: the four-channel loops
MAX_TAPS = 64
STAGED_COLUMNS = 72
STAGED_ROWS = 16
WIDE_COLUMNS = 72
WIDE_ROWS = 8
# depthwise_pairs.cpp: the pair path
PAIR_PITCH = 34
PAIR_ROWS = 16
PAIR_ROW_WORDS = 4 * (PAIR_PITCH // 2)
PAIR_TABLE_WORDS = 16


@dataclass(frozen=True)
class ConvGeometry:
    """The fields of kernels::ConvParams the scratch depends on."""

    stride_h: int = 1
    stride_w: int = 1
    pad_top: int = 0
    pad_left: int = 0
    dilation_h: int = 1
    dilation_w: int = 1


def band_input_rows(capacity: int, stride_h: int, out_h: int) -> int:
    """kernels/staging.h: input rows the largest band of a 3x3 layer stages."""
    band = (capacity - 3) // stride_h + 1
    return (min(out_h, band) - 1) * stride_h + 3


def conv2d_one_channel_3x3_scratch_bytes(p: ConvGeometry, in_dims: Dims, filter_dims: Dims, out_dims: Dims) -> int:
    _, kh, kw, _ = filter_dims
    if (kh != 3 or kw != 3 or in_dims[3] != 1 or p.dilation_h != 1 or p.dilation_w != 1 or p.stride_w != 1
            or out_dims[2] + 4 > ONE_CHANNEL_PITCH or p.stride_h > ONE_CHANNEL_ROWS - 3):
        return 0
    return band_input_rows(ONE_CHANNEL_ROWS, p.stride_h, out_dims[1]) * 2 * ONE_CHANNEL_PITCH


def _conv_tile_pixels(p: ConvGeometry, in_dims: Dims, filter_dims: Dims, out_dims: Dims,
                      packed: bool) -> tuple[int, int, int]:
    """conv2d_s8.cpp's plan_conv: (groups, tile pixels, filter-pair words); 0 tile pixels when the
    layer takes the reference loops or has no pixels."""
    _, kh, kw, in_c = filter_dims
    row_groups = in_dims[3] == 1 and kw <= 4 and p.dilation_w == 1
    groups = kh if row_groups else (kh * kw * in_c + 3) // 4
    pair_words = 0 if packed else PAIR_CONSTANT_WORDS + groups * 4
    if groups < 1 or groups > MAX_TILED_GROUPS:
        return groups, 0, pair_words
    fit = (SCRATCH_WORDS - pair_words) // (groups * 2) // 2 * 2
    total = out_dims[0] * out_dims[1] * out_dims[2]
    if fit < 2 or total < 1:
        return groups, 0, pair_words
    tiles = (total + fit - 1) // fit
    tile_pixels = (total + tiles - 1) // tiles
    return groups, tile_pixels + tile_pixels % 2, pair_words


def conv2d_s8_scratch_bytes(p: ConvGeometry, in_dims: Dims, filter_dims: Dims, out_dims: Dims, packed: bool) -> int:
    if filter_dims[0] != out_dims[3] or filter_dims[3] != in_dims[3] or in_dims[0] != out_dims[0]:
        return 0
    groups, tile_pixels, pair_words = _conv_tile_pixels(p, in_dims, filter_dims, out_dims, packed)
    if tile_pixels == 0:
        return 0
    tiled = (tile_pixels * groups * 2 + pair_words) * 4
    one_channel = 0 if packed else conv2d_one_channel_3x3_scratch_bytes(p, in_dims, filter_dims, out_dims)
    return max(tiled, one_channel)


def _pair_path_columns(p: ConvGeometry, out_dims: Dims) -> int:
    """depthwise_pairs.cpp's pair_path_columns (with pair_geometry's `need`)."""
    n, out_h, out_w, _ = out_dims
    if p.stride_w not in (1, 2) or out_w < 2 or n * out_h * out_w < 8:
        return 0
    rem = out_w % 4
    end = 0 if out_w < 4 or rem == 0 else (3 if rem == 3 else 2)
    groups = (out_w + 3) // 4 if end == 0 else out_w // 4
    blocks = groups + (1 if end == 3 else 0)
    if p.stride_w == 1:
        need = 4 * blocks + (2 if end == 2 else 0) + 2
    else:
        need = 8 * blocks + (4 if end == 2 else 0) + 2
    return need if need <= PAIR_PITCH else 0


def depthwise3x3_pairs_scratch_bytes(p: ConvGeometry, in_dims: Dims, filter_dims: Dims, out_dims: Dims) -> int:
    if (filter_dims[1] != 3 or filter_dims[2] != 3 or p.dilation_h != 1 or p.dilation_w != 1
            or _pair_path_columns(p, out_dims) == 0 or in_dims[3] >= 1 << 16):
        return 0
    return (4 * PAIR_TABLE_WORDS + band_input_rows(PAIR_ROWS, p.stride_h, out_dims[1]) * PAIR_ROW_WORDS) * 4


def _by_four_scratch_bytes(p: ConvGeometry, filter_dims: Dims, out_dims: Dims) -> int:
    """depthwise_conv2d_s8.cpp's by_four_scratch_bytes: the 3x3 loops' staged rows, the tap loop's table."""
    columns = (out_dims[2] - 1) * p.stride_w + 3
    staged = filter_dims[1] == 3 and filter_dims[2] == 3 and columns <= STAGED_COLUMNS
    if staged and p.stride_w == 1 and columns <= WIDE_COLUMNS:
        return band_input_rows(WIDE_ROWS, p.stride_h, out_dims[1]) * 2 * WIDE_COLUMNS * 4
    if staged:
        return band_input_rows(STAGED_ROWS, p.stride_h, out_dims[1]) * STAGED_COLUMNS * 4
    return 2 * filter_dims[1] * filter_dims[2] * 4


def depthwise_conv2d_s8_scratch_bytes(p: ConvGeometry, in_dims: Dims, filter_dims: Dims, out_dims: Dims) -> int:
    c = in_dims[3]
    if filter_dims[0] != 1 or filter_dims[3] != c or out_dims[3] != c or in_dims[0] != out_dims[0]:
        return 0
    fast = p.dilation_h == 1 and p.dilation_w == 1 and filter_dims[1] * filter_dims[2] <= MAX_TAPS
    if not fast or c - c % 4 == 0:
        return 0
    return max(depthwise3x3_pairs_scratch_bytes(p, in_dims, filter_dims, out_dims),
               _by_four_scratch_bytes(p, filter_dims, out_dims))


@dataclass(frozen=True)
class FusedConv:
    """One conv of an inverted-residual block: its geometry and filter (dims, packed or not)."""

    geometry: ConvGeometry
    filter_dims: Dims
    packed: bool = False


def inverted_residual_scratch_bytes(expand: FusedConv | None, depthwise: FusedConv, project: FusedConv,
                                    in_dims: Dims, out_dims: Dims) -> int:
    """The most any of the block's per-row kernel calls needs (they run one at a time)."""
    _, kh, _, expanded_c = depthwise.filter_dims
    in_w, in_c, out_w = in_dims[2], in_dims[3], out_dims[2]

    def pointwise_row(conv: FusedConv, width: int, channels: int) -> int:
        return conv2d_s8_scratch_bytes(conv.geometry, (1, 1, width, channels), conv.filter_dims,
                                       (1, 1, width, conv.filter_dims[0]), conv.packed)

    dw = depthwise_conv2d_s8_scratch_bytes(depthwise.geometry, (1, kh, in_w, expanded_c), depthwise.filter_dims,
                                           (1, 1, out_w, expanded_c))
    ex = pointwise_row(expand, in_w, in_c) if expand is not None else 0
    return max(dw, ex, pointwise_row(project, out_w, expanded_c))


@dataclass(frozen=True)
class ChainStage:
    """One convolution of a row chain: its geometry and filter, kind, band rows and output shape."""

    conv: FusedConv
    depthwise: bool
    rows: int
    out_dims: Dims


def row_chain_scratch_bytes(stages: list[ChainStage], in_dims: Dims) -> int:
    """The most any of the chain's kernel calls needs, for every band of 1..rows output rows and
    every input height such a band reads (they run one at a time)."""
    most = 0
    for j, stage in enumerate(stages):
        in_h, in_w, in_c = (in_dims if j == 0 else stages[j - 1].out_dims)[1:]
        _, out_h, out_w, out_c = stage.out_dims
        kh = stage.conv.filter_dims[1]
        for rows in range(1, min(stage.rows, out_h) + 1):
            for in_rows in range(1, min((rows - 1) * stage.conv.geometry.stride_h + kh, in_h) + 1):
                x, y = (1, in_rows, in_w, in_c), (1, rows, out_w, out_c)
                need = (depthwise_conv2d_s8_scratch_bytes(stage.conv.geometry, x, stage.conv.filter_dims, y)
                        if stage.depthwise else
                        conv2d_s8_scratch_bytes(stage.conv.geometry, x, stage.conv.filter_dims, y, stage.conv.packed))
                most = max(most, need)
    return most


# The blob's view: an op of a BlobBuilder, as the firmware's op table sees it.

PACKED_TYPES = (fmt.TensorType.PACKED_PAIRS, fmt.TensorType.PACKED_PAIRS_SCALED)


def _geometry(builder: fmt.BlobBuilder, params_offset: int) -> ConvGeometry:
    return ConvGeometry(*fmt.CONV_PARAMS.unpack_from(builder.data, params_offset)[:6])


def _fused_conv(builder: fmt.BlobBuilder, params_offset: int, filter_index: int) -> FusedConv:
    f = builder.tensors[filter_index]
    return FusedConv(_geometry(builder, params_offset), f.dims, f.dtype in PACKED_TYPES)


def op_scratch_bytes(builder: fmt.BlobBuilder, op: fmt.BlobOp) -> int:
    """Bytes of scratch the firmware's kernels need for this op (the op table's scratch_bytes)."""
    dims = [builder.tensors[i].dims if i is not None else None for i in op.inputs]
    out_dims = builder.tensors[op.output].dims
    if op.opcode == fmt.OpCode.CONV_2D:
        packed = builder.tensors[op.inputs[1]].dtype in PACKED_TYPES
        return conv2d_s8_scratch_bytes(_geometry(builder, op.params_offset), dims[0], dims[1], out_dims, packed)
    if op.opcode == fmt.OpCode.DEPTHWISE_CONV_2D:
        return depthwise_conv2d_s8_scratch_bytes(_geometry(builder, op.params_offset), dims[0], dims[1], out_dims)
    if op.opcode == fmt.OpCode.INVERTED_RESIDUAL:
        conv = fmt.CONV_PARAMS.size
        tail = fmt.FUSED_TAIL.unpack_from(builder.data, op.params_offset + 3 * conv + fmt.ADD_PARAMS.size)
        expand_filter, _, depthwise_filter, _, project_filter, _, has_expand = tail[:7]
        expand = _fused_conv(builder, op.params_offset, expand_filter) if has_expand else None
        depthwise = _fused_conv(builder, op.params_offset + conv, depthwise_filter)
        project = _fused_conv(builder, op.params_offset + 2 * conv, project_filter)
        return inverted_residual_scratch_bytes(expand, depthwise, project, dims[0], out_dims)
    if op.opcode == fmt.OpCode.ROW_CHAIN:
        from quantize.row_chain import ROW_CHAIN_PARAMS, ROW_CHAIN_STAGE

        (count,) = struct.unpack_from("<I", builder.data, op.params_offset)
        stages = []
        for k in range(count):
            at = op.params_offset + ROW_CHAIN_PARAMS.offset(f"stages[{k}].conv.conv.stride_h")
            fields = dict(zip(ROW_CHAIN_STAGE.names, ROW_CHAIN_STAGE.unpack_from(builder.data, at)))
            stages.append(ChainStage(_fused_conv(builder, at, fields["filter"]), bool(fields["depthwise"]),
                                     fields["rows"], (1, fields["out_h"], fields["out_w"], fields["out_c"])))
        return row_chain_scratch_bytes(stages, dims[0])
    return 0
