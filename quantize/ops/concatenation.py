"""CONCATENATION of int8 activations along one axis: options, validation, parameter block, golden
kernel and lowering.

TFLite Micro's int8 kernel does not rescale: its Prepare requires every input to have the output's
scale and zero point (the converter gives them one quantization), and Eval copies bytes. The same
is required here, so the forward pass is a copy and bit-exact by construction. The output never
shares an input's bytes (not in place): each input's slices land at other offsets of the output.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quantize.blob_format import MAX_OP_INPUTS, OpCode
from quantize.errors import UnsupportedModelError
from quantize.graph import Graph, Operator, Tensor
from quantize.layout import Layout
from quantize.ops import checks, options
from quantize.ops.base import Inputs, LoweringContext, OpDef

CONCATENATION_PARAMS = Layout("kernels::ConcatenationParams", ("axis", "i"))
assert CONCATENATION_PARAMS.size == 4


@dataclass(frozen=True)
class ConcatenationOptions:
    axis: int  # non-negative, in the output's rank


def read_options(raw, inputs: tuple[int, ...], tensors: tuple[Tensor, ...]) -> ConcatenationOptions:
    # TFLite Micro's Prepare refuses a fused activation (TF_LITE_ENSURE_EQ(params->activation, kTfLiteActNone)).
    if options.activation(raw.fusedActivationFunction) != "NONE":
        raise UnsupportedModelError(f"fused activation {options.activation(raw.fusedActivationFunction)} "
                                    "(supported: NONE, as TFLite Micro)")
    rank = len(tensors[inputs[0]].shape)
    axis = int(raw.axis)
    if not -rank <= axis < rank:
        raise UnsupportedModelError(f"axis {axis} of rank-{rank} inputs")
    return ConcatenationOptions(axis + rank if axis < 0 else axis)


def validate(graph: Graph, op: Operator) -> None:
    count = len(op.inputs)
    if not 2 <= count <= MAX_OP_INPUTS:
        raise UnsupportedModelError(f"{count} inputs (supported: 2 to {MAX_OP_INPUTS})")
    checks.require_int8_activations(graph, op, inputs=count)
    axis = op.options.axis
    out = graph.tensor(op.outputs[0])
    for i in op.inputs:
        t = graph.tensor(i)
        if t.data is not None:
            raise UnsupportedModelError(f"constant input '{t.name}' (supported: activations)")
        checks.require_same_quantization(graph, i, op.outputs[0])  # as TFLite Micro's int8 Prepare
        if len(t.shape) != len(out.shape) or t.shape[:axis] + t.shape[axis + 1:] != out.shape[:axis] + out.shape[axis + 1:]:
            raise UnsupportedModelError(f"input shape {list(t.shape)} does not match the output {list(out.shape)} "
                                        f"outside axis {axis}")
    if sum(graph.tensor(i).shape[axis] for i in op.inputs) != out.shape[axis]:
        raise UnsupportedModelError(f"inputs' sizes along axis {axis} do not add up to the output's")


def concatenation_s8(axis: int, inputs: Inputs) -> np.ndarray:
    """The inputs laid end to end along `axis` (all in the output's quantization: a copy)."""
    return np.concatenate(inputs, axis=axis).astype(np.int8)


def forward(graph: Graph, op: Operator, inputs: Inputs) -> np.ndarray:
    return concatenation_s8(op.options.axis, inputs)


def lower(lowering: LoweringContext, op: Operator) -> None:
    # The blob's 4-D dims have leading 1s: the axis moves by the ranks' difference.
    rank = len(lowering.graph.tensor(op.outputs[0]).shape)
    axis = op.options.axis + 4 - rank
    lowering.emit(OpCode.CONCATENATION, [lowering.activation(i) for i in op.inputs], lowering.activation(op.outputs[0]),
                  CONCATENATION_PARAMS.pack_fields({"axis": axis}), 0)


OP = OpDef("CONCATENATION", read_options, validate, forward, lower, opcode=OpCode.CONCATENATION,
           params=CONCATENATION_PARAMS)
