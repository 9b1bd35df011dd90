"""DEPTHWISE_CONV_2D (depth multiplier 1): its options, validation and golden kernel (the options it
shares with CONV_2D, Prepare, parameter block and lowering are in conv_common.py)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from quantize.blob_format import OpCode
from quantize.errors import UnsupportedModelError
from quantize.graph import Graph, Operator, Tensor
from quantize.ops.conv_common import (
    Conv2DOptions,
    ConvParams,
    conv_op,
    input_windows,
    read_conv_options,
    requantize_accumulators,
    validate_conv,
)


@dataclass(frozen=True)
class DepthwiseConv2DOptions(Conv2DOptions):
    depth_multiplier: int


def read_options(raw, inputs: tuple[int, ...], tensors: tuple[Tensor, ...]) -> DepthwiseConv2DOptions:
    return DepthwiseConv2DOptions(**asdict(read_conv_options(raw)), depth_multiplier=raw.depthMultiplier)


def validate(graph: Graph, op: Operator) -> None:
    validate_conv(graph, op)
    c_in, c_out = graph.tensor(op.inputs[0]).shape[3], graph.tensor(op.outputs[0]).shape[3]
    if op.options.depth_multiplier != 1 or c_out != c_in:
        multiplier = max(op.options.depth_multiplier, c_out // max(c_in, 1))
        raise UnsupportedModelError(f"depth multiplier {multiplier} (supported: 1)")


def depthwise_conv2d_s8(p: ConvParams, x: np.ndarray, filters: np.ndarray, bias: np.ndarray | None,
                        out_hw: tuple[int, int]) -> np.ndarray:
    """x [N, H, W, C] int8, filters [1, KH, KW, C] int8 (depth multiplier 1), bias [C] or None ->
    [N, out_h, out_w, C] int8. Each channel is convolved with its own filter."""
    _, kh, kw, _ = filters.shape
    acc = np.einsum("nhwcij,ijc->nhwc", input_windows(p, x, kh, kw, out_hw), filters[0].astype(np.int64))
    return requantize_accumulators(p, acc, bias)


OP = conv_op("DEPTHWISE_CONV_2D", OpCode.DEPTHWISE_CONV_2D, depthwise_conv2d_s8, read_options, validate,
             depthwise=True)
