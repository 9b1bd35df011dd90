"""SUB of two int8 tensors, one broadcast against the other (quantize/ops/broadcast.py) or of the
same shape: TFLite's int8 SUB is its ADD with the second scaled input subtracted, its Prepare
dividing the scales in float32 (quantize/ops/add.py prepare_rescaled)."""

from __future__ import annotations

import numpy as np

from quantize.blob_format import OpCode
from quantize.graph import Graph, Operator
from quantize.ops import add
from quantize.ops.base import Inputs, LoweringContext, OpDef
from quantize.ops.broadcast import operand, validate_broadcast


def prepare(graph: Graph, op: Operator) -> add.AddParams:
    return add.prepare_rescaled(graph, op, float32_ratios=True)


def sub_s8(p: add.AddParams, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise a - b, b broadcast against a (numpy's broadcasting, TFLite's)."""
    scaled1, scaled2 = add.rescaled_inputs(p, a, b)
    return add.rescaled_output(p, scaled1 - scaled2)


def forward(graph: Graph, op: Operator, inputs: Inputs) -> np.ndarray:
    return sub_s8(prepare(graph, op), inputs[0], inputs[1])


def lower(lowering: LoweringContext, op: Operator) -> None:
    lowering.emit(OpCode.SUB, [operand(lowering, i) for i in op.inputs[:2]], lowering.activation(op.outputs[0]),
                  add.ADD_PARAMS.pack_from(prepare(lowering.graph, op)), 0)


OP = OpDef("SUB", add.read_options, validate_broadcast, forward, lower, opcode=OpCode.SUB, params=add.ADD_PARAMS,
           prepare=prepare)
