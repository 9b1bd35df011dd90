"""DEPTHWISE_CONV_2D (any depth multiplier): its options, validation and golden kernel (the options it
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
    filter_channels = graph.tensor(op.inputs[1]).shape[3]
    if c_out != c_in * op.options.depth_multiplier or filter_channels != c_out:
        # TFLite Micro checks output channels = input channels x multiplier in its Prepare too.
        raise UnsupportedModelError(f"depth multiplier {op.options.depth_multiplier} with {c_in} input, "
                                    f"{c_out} output and {filter_channels} filter channels (supported: output "
                                    "and filter channels = input channels x depth multiplier)")


def depthwise_conv2d_s8(p: ConvParams, x: np.ndarray, filters: np.ndarray, bias: np.ndarray | None,
                        out_hw: tuple[int, int]) -> np.ndarray:
    """x [N, H, W, C] int8, filters [1, KH, KW, C * M] int8 (depth multiplier M), bias [C * M] or None ->
    [N, out_h, out_w, C * M] int8. Output channel c * M + j convolves input channel c with its own filter."""
    _, kh, kw, c_out = filters.shape
    win = input_windows(p, x, kh, kw, out_hw)
    if c_out != x.shape[3]:
        win = np.repeat(win, c_out // x.shape[3], axis=3)
    acc = np.einsum("nhwcij,ijc->nhwc", win, filters[0].astype(np.int64))
    return requantize_accumulators(p, acc, bias)


OP = conv_op("DEPTHWISE_CONV_2D", OpCode.DEPTHWISE_CONV_2D, depthwise_conv2d_s8, read_options, validate,
             depthwise=True)
