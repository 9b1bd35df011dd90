"""What CONV_2D and DEPTHWISE_CONV_2D share, as TFLite shares conv_common.cc: their options, the
Prepare step and its parameters, the parameter block (model::ConvOpParams), the input windows and
output stage of the golden kernels, the validation, and the lowering of the filter, bias and
parameters (also used by the row-streamed inverted-residual block, quantize/fused_block.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from quantize import packing
from quantize.blob_format import ACTIVATION_RANGE, OpCode, TensorType, dims4
from quantize.graph import Graph, Operator
from quantize.layout import FieldValue, Layout
from quantize.ops import checks, options
from quantize.ops.base import Inputs, LoweringContext, OpDef, ReadOptions, optional_input
from quantize.ops.windows import leading_padding, windows
from quantize.requant import activation_range, clamp, multiply_by_quantized_multiplier, quantize_multipliers

KERNEL_CONV_PARAMS = Layout("kernels::ConvParams",
                            ("stride_h", "i"), ("stride_w", "i"), ("pad_top", "i"), ("pad_left", "i"),
                            ("dilation_h", "i"), ("dilation_w", "i"), ("input_offset", "i"), ("output_offset", "i"),
                            ("act", ACTIVATION_RANGE))
CONV_OP_PARAMS = Layout("model::ConvOpParams",
                        ("conv", KERNEL_CONV_PARAMS), ("multiplier_offset", "I"), ("shift_offset", "I"))
assert CONV_OP_PARAMS.size == 48


@dataclass(frozen=True)
class Conv2DOptions:
    """CONV_2D's options, and the part of DEPTHWISE_CONV_2D's they share."""

    padding: str      # "SAME" or "VALID"
    stride_h: int
    stride_w: int
    dilation_h: int
    dilation_w: int
    activation: str   # "NONE", "RELU" or "RELU6"


def read_conv_options(raw) -> Conv2DOptions:
    """The options of a Conv2DOptionsT or DepthwiseConv2DOptionsT: strides 1 to 4, dilation 1 to 8."""
    options.strides(raw.strideH, raw.strideW)
    options.dilation(raw.dilationHFactor, raw.dilationWFactor)
    return Conv2DOptions(options.padding(raw.padding), raw.strideH, raw.strideW, raw.dilationHFactor,
                         raw.dilationWFactor, options.activation(raw.fusedActivationFunction))


@dataclass(frozen=True)
class ConvParams:
    stride_h: int
    stride_w: int
    pad_top: int
    pad_left: int
    dilation_h: int
    dilation_w: int
    input_offset: int         # -input zero point
    output_offset: int        # output zero point
    multipliers: np.ndarray   # int64 [C_out]
    shifts: np.ndarray        # int64 [C_out]
    act_min: int
    act_max: int


# Per graph and operator, what depends on nothing else: the planner lowers one graph a thousand
# times with different plans, and the per-channel multipliers and packed filters were most of it.
# Keyed by the graph's id, holding the graph so that the id stays its own.
_PER_OP: dict[tuple[int, int, str], tuple[Graph, object]] = {}


def _per_op(graph: Graph, op: Operator, what: str, compute: Callable[[], object]):
    key = (id(graph), op.index, what)
    cached = _PER_OP.get(key)
    if cached is None or cached[0] is not graph:
        cached = _PER_OP[key] = (graph, compute())
    return cached[1]


def prepare_conv(graph: Graph, op: Operator) -> ConvParams:
    """TFLite's PopulateConvolutionQuantizationParams: for each output channel c the multiplier of
    input_scale * filter_scale[c] / output_scale, in double precision (computed once per graph and
    operator)."""
    return _per_op(graph, op, "params", lambda: _prepare_conv(graph, op))


def _prepare_conv(graph: Graph, op: Operator) -> ConvParams:
    x, w, y = (graph.tensor(i) for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
    opts = op.options
    c_out = y.shape[3]
    filter_scales = w.quantization.scales.astype(np.float64)
    if len(filter_scales) == 1:
        filter_scales = np.repeat(filter_scales, c_out)
    multipliers, shifts = quantize_multipliers(np.float64(x.scale) * filter_scales / np.float64(y.scale))
    kh, kw = w.shape[1], w.shape[2]
    act_min, act_max = activation_range(opts.activation, y.scale, y.zero_point)
    return ConvParams(
        opts.stride_h, opts.stride_w,
        leading_padding(opts.padding, x.shape[1], kh, opts.stride_h, y.shape[1], opts.dilation_h),
        leading_padding(opts.padding, x.shape[2], kw, opts.stride_w, y.shape[2], opts.dilation_w),
        opts.dilation_h, opts.dilation_w, -x.zero_point, y.zero_point, multipliers, shifts, act_min, act_max)


STREAMED_STRIDES = (1, 2)


def row_streamable(op: Operator) -> bool:
    """Whether the row-streamed paths (quantize/row_chain.py, quantize/fused_block.py) may take this
    CONV_2D or DEPTHWISE_CONV_2D: their windows span kh rows at strides 1 or 2, their depthwise stage
    keeps its channels; dilation, a depth multiplier over 1 and strides 3 and 4 stay whole-tensor ops."""
    o = op.options
    return (o.dilation_h == 1 and o.dilation_w == 1 and getattr(o, "depth_multiplier", 1) == 1
            and o.stride_h in STREAMED_STRIDES and o.stride_w in STREAMED_STRIDES)


def validate_conv(graph: Graph, op: Operator) -> None:
    """int8 activations, constant int8 weights and int32 bias, an NHWC input with SAME or VALID padding."""
    checks.require_int8_activations(graph, op)
    checks.require_constant_weights(graph, op)
    checks.require_nhwc_window(graph, op, op.options.padding)


def input_windows(p: ConvParams, x: np.ndarray, kh: int, kw: int, out_hw: tuple[int, int]) -> np.ndarray:
    """Every (kh, kw) window of x + input_offset (dilated as p says), int64 [N, out_h, out_w, C, kh, kw];
    taps outside the input read 0, which equals TFLite's skipping them."""
    shifted = x.astype(np.int64) + p.input_offset
    return windows(shifted, kh, kw, p.stride_h, p.stride_w, p.pad_top, p.pad_left, *out_hw, fill=0,
                   dilation_h=p.dilation_h, dilation_w=p.dilation_w)


def requantize_accumulators(p: ConvParams, acc: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """acc [..., C] int64 -> int8: add the bias, rescale per channel, add the output zero point, clamp."""
    if bias is not None:
        acc = acc + bias.astype(np.int64).reshape(-1)
    scaled = multiply_by_quantized_multiplier(acc, p.multipliers, p.shifts)
    return clamp(scaled + p.output_offset, p.act_min, p.act_max)


@dataclass
class ConvParts:
    """A CONV_2D or DEPTHWISE_CONV_2D lowered: its parameter block's values and its constants."""

    params: dict[str, FieldValue]  # CONV_OP_PARAMS's fields
    filter: int                    # blob tensor indices
    bias: int | None
    macs: int


def _packed(p: ConvParams, weights: np.ndarray, bias: np.ndarray | None, c_in: int):
    """A pointwise filter packed with its output stage (quantize/packing.py): (exponents, words)."""
    exponents = packing.relu_scale_exponents(p.shifts, p.multipliers, p.output_offset, p.act_min, p.act_max, c_in,
                                             bias)
    return exponents, packing.pack_pairs(weights, p.shifts, p.multipliers, p.output_offset, p.act_min, p.act_max,
                                         bias, exponents)


def lower_conv_parts(lowering: LoweringContext, op: Operator, depthwise: bool) -> ConvParts:
    """The parameter block and constants of a CONV_2D / DEPTHWISE_CONV_2D: the filter packed when the
    lowering chose to (a pointwise CONV_2D), int8 otherwise, trainable as the training plan says."""
    graph = lowering.graph
    p = prepare_conv(graph, op)
    x, w, y = (graph.tensor(i) for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
    bias = checks.bias_index(op)
    n, _, _, c_in = dims4(x.shape)
    _, oh, ow, c_out = dims4(y.shape)
    kh, kw = w.shape[1], w.shape[2]
    m_off, s_off = lowering.channel_arrays(p.multipliers, p.shifts)
    params = {"conv": KERNEL_CONV_PARAMS.fields_of(p),
              "multiplier_offset": m_off, "shift_offset": s_off}
    bias_data = graph.tensor(bias).data if bias is not None else None
    planned = lowering.plan.layer(op.index)
    train_weights, train_bias = (planned.weights, planned.bias) if planned else (False, False)
    if op.index in lowering.packed_ops:
        exponents, packed = _per_op(graph, op, "packed", lambda: _packed(p, w.data, bias_data, c_in))
        dtype = TensorType.PACKED_PAIRS if exponents is None else TensorType.PACKED_PAIRS_SCALED
        filter_index = lowering.builder.add_const(packed, w.shape, dtype=dtype)
    else:
        filter_index = lowering.const(w.index, w.shape, trainable=train_weights)
    return ConvParts(
        params=params,
        filter=filter_index,
        bias=lowering.const(bias, (1, 1, 1, c_out), trainable=train_bias) if bias is not None else None,
        macs=n * oh * ow * c_out * kh * kw * (1 if depthwise else c_in),
    )


def emit_conv(lowering: LoweringContext, op: Operator, opcode: OpCode, parts: ConvParts) -> None:
    """Emits a CONV_2D or DEPTHWISE_CONV_2D as one blob op."""
    lowering.emit(opcode, [lowering.activation(op.inputs[0]), parts.filter, parts.bias],
                  lowering.activation(op.outputs[0]), CONV_OP_PARAMS.pack_fields(parts.params), parts.macs)


# A convolution's golden kernel: (params, x, filters, bias or None, output (H, W)) -> output.
ConvKernel = Callable[[ConvParams, np.ndarray, np.ndarray, "np.ndarray | None", tuple[int, int]], np.ndarray]


def conv_op(name: str, opcode: OpCode, kernel: ConvKernel, read_options: ReadOptions,
            validate: Callable[[Graph, Operator], None], depthwise: bool, **columns) -> OpDef:
    """The OpDef of a convolution: its golden forward runs `kernel` with prepare_conv's parameters,
    its lowering emits one `opcode` op with the ConvOpParams block; `columns` are further OpDef fields."""
    def forward(graph: Graph, op: Operator, inputs: Inputs) -> np.ndarray:
        out_hw = graph.tensor(op.outputs[0]).shape[1:3]
        return kernel(prepare_conv(graph, op), inputs[0], inputs[1], optional_input(inputs, 2), out_hw)

    def lower(lowering: LoweringContext, op: Operator) -> None:
        emit_conv(lowering, op, opcode, lower_conv_parts(lowering, op, depthwise))

    return OpDef(name, read_options, validate, forward, lower, opcode=opcode, params=CONV_OP_PARAMS,
                 prepare=prepare_conv, parametric=True, **columns)
