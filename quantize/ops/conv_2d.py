"""CONV_2D: its golden kernel and packing cost (options, Prepare, validation, parameter block and
lowering are shared with DEPTHWISE_CONV_2D in conv_common.py)."""

from __future__ import annotations

import numpy as np

from quantize import packing
from quantize.blob_format import OpCode
from quantize.graph import Graph, Operator, Tensor
from quantize.ops.checks import bias_index
from quantize.ops.conv_common import (
    Conv2DOptions,
    ConvParams,
    conv_op,
    input_windows,
    prepare_conv,
    read_conv_options,
    requantize_accumulators,
    validate_conv,
)


def read_options(raw, inputs: tuple[int, ...], tensors: tuple[Tensor, ...]) -> Conv2DOptions:
    return read_conv_options(raw)


def conv2d_s8(p: ConvParams, x: np.ndarray, filters: np.ndarray, bias: np.ndarray | None,
              out_hw: tuple[int, int]) -> np.ndarray:
    """x [N, H, W, C_in] int8, filters [C_out, KH, KW, C_in] int8, bias [C_out] int32 or None ->
    [N, out_h, out_w, C_out] int8. acc = sum over the window of filter * (x + input_offset); taps
    outside the input are skipped (read here as x + input_offset = 0)."""
    _, kh, kw, _ = filters.shape
    acc = np.einsum("nhwcij,oijc->nhwo", input_windows(p, x, kh, kw, out_hw), filters.astype(np.int64))
    return requantize_accumulators(p, acc, bias)


def packed_filter_extra(graph: Graph, op: Operator) -> int | None:
    """Flash the filter packed in the device's layout would add over its int8 size, None when the
    device does not take it packed (packing.takes_packed: a pointwise filter, among others)."""
    p = prepare_conv(graph, op)
    w, bias = graph.tensor(op.inputs[1]), bias_index(op)
    bias_data = graph.tensor(bias).data if bias is not None else None
    if not packing.takes_packed(w.shape, bias_data, (p.stride_h, p.stride_w), (p.pad_top, p.pad_left)):
        return None
    return packing.packed_pairs_bytes(w.shape[0], w.shape[-1]) - w.data.nbytes


OP = conv_op("CONV_2D", OpCode.CONV_2D, conv2d_s8, read_options, validate_conv, depthwise=False,
             packed_filter_extra=packed_filter_extra)
