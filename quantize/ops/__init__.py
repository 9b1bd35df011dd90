"""The registry of the TFLite ops mcutrain implements: one module per op, one table every stage reads.

Each op's module holds all the host knows about it (quantize/ops/base.py's OpDef): its options
(read and validated), TFLite's Prepare step, its golden kernel, its blob opcode and parameter block
(quantize/layout.py), its lowering, whether it has trainable parameters and whether it may run in
place. The parser (tflite_model.py), the golden reference (golden.py), the lowering (lower.py) and
the training plan (training_plan.py) look an op up here by its TFLite name instead of switching on
it. To add an op: write its module, list its OpDef in OPS.
"""

from __future__ import annotations

from quantize.ops import (
    activation,
    add,
    concatenation,
    conv_2d,
    depthwise_conv_2d,
    dequantize,
    fully_connected,
    hard_swish,
    leaky_relu,
    logistic,
    mean,
    mul,
    pad,
    pool,
    requantize,
    reshape,
    softmax,
    strided_slice,
    sub,
    tanh,
)
from quantize.ops.base import OpDef

OPS: dict[str, OpDef] = {op.name: op for op in (
    conv_2d.OP, depthwise_conv_2d.OP, fully_connected.OP, add.OP, pool.AVERAGE_POOL_2D, pool.MAX_POOL_2D, mean.OP,
    reshape.OP, pad.OP, softmax.OP, requantize.OP, dequantize.OP, activation.RELU, activation.RELU6,
    leaky_relu.OP, concatenation.OP, logistic.OP, tanh.OP, hard_swish.OP, mul.OP, sub.OP, strided_slice.OP)}


def op_def(name: str) -> OpDef:
    """The definition of TFLite op `name`; parse_tflite has refused any op not in OPS."""
    return OPS[name]


def parametric_ops() -> tuple[str, ...]:
    """The ops with weights and a bias a training plan may make trainable, in registry order."""
    return tuple(name for name, op in OPS.items() if op.parametric)


def derivative_ops() -> tuple[str, ...]:
    """The element-wise ops whose backward multiplies the error by their derivative at the forward
    input (OpDef.derivative), in registry order."""
    return tuple(name for name, op in OPS.items() if op.derivative is not None)


def in_place_opcodes() -> tuple[int, ...]:
    """The blob opcodes whose output the memory plan may place over an input."""
    # RELU, RELU6: one opcode; LOGISTIC, TANH, HARD_SWISH: another
    return tuple(dict.fromkeys(op.opcode for op in OPS.values() if op.in_place))
