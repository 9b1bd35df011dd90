"""RESHAPE: validation, golden kernel and lowering. Its output shares its input's arena buffer (the
lowering tells the memory plan they are one)."""

from __future__ import annotations

import numpy as np

from quantize.blob_format import OpCode
from quantize.graph import Graph, Operator
from quantize.ops import checks
from quantize.ops.base import Inputs, LoweringContext, OpDef, emit_single_input, no_options


def validate(graph: Graph, op: Operator) -> None:
    checks.require_int8_activations(graph, op)
    checks.require_same_quantization(graph, op.inputs[0], op.outputs[0])


def reshape_s8(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return x.reshape(shape).copy()


def forward(graph: Graph, op: Operator, inputs: Inputs) -> np.ndarray:
    return reshape_s8(inputs[0], graph.tensor(op.outputs[0]).shape)


def lower(lowering: LoweringContext, op: Operator) -> None:
    lowering.alias(op.outputs[0], op.inputs[0])
    emit_single_input(lowering, op, OpCode.RESHAPE)


OP = OpDef("RESHAPE", no_options, validate, forward, lower, opcode=OpCode.RESHAPE)
