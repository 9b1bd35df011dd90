"""FULLY_CONNECTED: options, validation, Prepare, parameter block, golden kernel and lowering."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tflite_micro.tensorflow.lite.micro.python.schema_py_generated as schema

from quantize.blob_format import ACTIVATION_RANGE, OpCode
from quantize.errors import UnsupportedModelError
from quantize.graph import Graph, Operator, Tensor
from quantize.layout import Layout
from quantize.ops import checks, options
from quantize.ops.base import Inputs, LoweringContext, OpDef, optional_input
from quantize.requant import activation_range, clamp, multiply_by_quantized_multiplier, quantize_multipliers

KERNEL_FC_PARAMS = Layout("kernels::FullyConnectedParams",
                          ("input_offset", "i"), ("filter_offset", "i"), ("output_offset", "i"),
                          ("act", ACTIVATION_RANGE))
FC_OP_PARAMS = Layout("model::FullyConnectedOpParams",
                      ("fc", KERNEL_FC_PARAMS), ("multiplier_offset", "I"), ("shift_offset", "I"))
assert FC_OP_PARAMS.size == 28


@dataclass(frozen=True)
class FullyConnectedOptions:
    activation: str
    keep_num_dims: bool


def read_options(raw, inputs: tuple[int, ...], tensors: tuple[Tensor, ...]) -> FullyConnectedOptions:
    if raw.weightsFormat != schema.FullyConnectedOptionsWeightsFormat.DEFAULT:
        raise UnsupportedModelError("shuffled weights format (supported: DEFAULT)")
    return FullyConnectedOptions(options.activation(raw.fusedActivationFunction), bool(raw.keepNumDims))


def validate(graph: Graph, op: Operator) -> None:
    checks.require_int8_activations(graph, op)
    checks.require_constant_weights(graph, op)


@dataclass(frozen=True)
class FullyConnectedParams:
    input_offset: int
    filter_offset: int
    output_offset: int
    multipliers: np.ndarray   # int64 [units] (all equal for per-tensor weights)
    shifts: np.ndarray
    act_min: int
    act_max: int


def prepare(graph: Graph, op: Operator) -> FullyConnectedParams:
    """Per-tensor weights: TFLite's GetQuantizedConvolutionMultipler multiplies the two scales in
    float32 before dividing in double. Per-channel weights: as convolutions, in double."""
    x, w, y = (graph.tensor(i) for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
    units = w.shape[0]
    if w.quantization.per_channel:
        reals = np.float64(x.scale) * w.quantization.scales.astype(np.float64) / np.float64(y.scale)
    else:
        product = float(np.float32(x.scale) * np.float32(w.scale))
        reals = np.full(units, product / float(y.scale))
    multipliers, shifts = quantize_multipliers(reals)
    act_min, act_max = activation_range(op.options.activation, y.scale, y.zero_point)
    return FullyConnectedParams(-x.zero_point, -w.zero_point, y.zero_point, multipliers, shifts, act_min, act_max)


def fully_connected_s8(p: FullyConnectedParams, x: np.ndarray, weights: np.ndarray,
                       bias: np.ndarray | None) -> np.ndarray:
    """x [..., depth] int8 (read as [batches, depth]), weights [units, depth] int8, bias [units]
    or None -> [batches, units] int8."""
    units, depth = weights.shape
    rows = x.reshape(-1, depth).astype(np.int64) + p.input_offset
    acc = rows @ (weights.astype(np.int64) + p.filter_offset).T
    if bias is not None:
        acc = acc + bias.astype(np.int64)
    scaled = multiply_by_quantized_multiplier(acc, p.multipliers, p.shifts)
    return clamp(scaled + p.output_offset, p.act_min, p.act_max)


def forward(graph: Graph, op: Operator, inputs: Inputs) -> np.ndarray:
    out = fully_connected_s8(prepare(graph, op), inputs[0], inputs[1], optional_input(inputs, 2))
    return out.reshape(graph.tensor(op.outputs[0]).shape)


def lower(lowering: LoweringContext, op: Operator) -> None:
    graph = lowering.graph
    p = prepare(graph, op)
    x, w, y = op.inputs[0], op.inputs[1], op.outputs[0]
    bias = checks.bias_index(op)
    units, depth = graph.tensor(w).shape
    m_off, s_off = lowering.channel_arrays(p.multipliers, p.shifts)
    params = FC_OP_PARAMS.pack_fields({"fc": KERNEL_FC_PARAMS.fields_of(p), "multiplier_offset": m_off,
                                       "shift_offset": s_off})
    planned = lowering.plan.layer(op.index)
    inputs = [lowering.activation(x),
              lowering.const(w, (1, 1, units, depth), trainable=bool(planned and planned.weights)),
              lowering.const(bias, (1, 1, 1, units), trainable=bool(planned and planned.bias))
              if bias is not None else None]
    macs = int(np.prod(graph.tensor(x).shape)) // depth * units * depth
    lowering.emit(OpCode.FULLY_CONNECTED, inputs, lowering.activation(y), params, macs)


OP = OpDef("FULLY_CONNECTED", read_options, validate, forward, lower, opcode=OpCode.FULLY_CONNECTED,
           params=FC_OP_PARAMS, prepare=prepare, parametric=True)
