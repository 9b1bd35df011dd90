"""PAD with the zero point (the quantized 0.0): options, validation, parameter block, golden kernel
and lowering."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quantize.blob_format import OpCode
from quantize.errors import UnsupportedModelError
from quantize.graph import Graph, Operator, Tensor
from quantize.layout import Layout
from quantize.ops import checks, options
from quantize.ops.base import Inputs, LoweringContext, OpDef, emit_single_input

PAD_PARAMS = Layout("kernels::PadParams", ("before", "4i"), ("after", "4i"), ("pad_value", "i"))
assert PAD_PARAMS.size == 36


@dataclass(frozen=True)
class PadOptions:
    paddings: tuple[tuple[int, int], ...]  # (before, after) for each input dimension


def read_options(raw, inputs: tuple[int, ...], tensors: tuple[Tensor, ...]) -> PadOptions:
    pads = options.constant(tensors, inputs, 1, "the paddings of PAD").reshape(-1, 2)
    return PadOptions(tuple((int(a), int(b)) for a, b in pads))


def validate(graph: Graph, op: Operator) -> None:
    checks.require_int8_activations(graph, op)
    checks.require_same_quantization(graph, op.inputs[0], op.outputs[0])
    rank = len(graph.tensor(op.inputs[0]).shape)
    if len(op.options.paddings) != rank:
        raise UnsupportedModelError(f"{len(op.options.paddings)} padding pairs for a rank-{rank} input")


def pad_s8(x: np.ndarray, paddings: tuple[tuple[int, int], ...], pad_value: int) -> np.ndarray:
    """Constant padding with the zero point (the quantized 0.0)."""
    return np.pad(x, paddings, constant_values=pad_value).astype(np.int8)


def forward(graph: Graph, op: Operator, inputs: Inputs) -> np.ndarray:
    return pad_s8(inputs[0], op.options.paddings, graph.tensor(op.outputs[0]).zero_point)


def lower(lowering: LoweringContext, op: Operator) -> None:
    # The firmware pads 4-D tensors: lower ranks get leading dimensions of (0, 0).
    paddings = op.options.paddings
    pads = [(0, 0)] * (4 - len(paddings)) + list(paddings)
    params = PAD_PARAMS.pack_fields({"before": [before for before, _ in pads], "after": [after for _, after in pads],
                                     "pad_value": lowering.graph.tensor(op.outputs[0]).zero_point})
    emit_single_input(lowering, op, OpCode.PAD, params)


OP = OpDef("PAD", read_options, validate, forward, lower, opcode=OpCode.PAD, params=PAD_PARAMS)
