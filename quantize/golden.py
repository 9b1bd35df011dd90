"""The golden reference of the int8 forward pass: numpy, bit-exact with TFLite Micro.

Each op is two plain steps, as in TFLite Micro and in the firmware's kernels, both in the op's
module (quantize/ops/<op>.py):
- its Prepare derives the op's integer parameters once (per-channel multipliers and shifts,
  activation clamps, explicit padding) with TFLite's Prepare arithmetic; the lowering writes the
  same parameters into the firmware's blob;
- its `<op>_s8(params, ...)` kernel is the reference maths on int8 arrays, computed in int64 so that
  nothing overflows before the requantization (quantize/requant.py).
`run_forward` executes a parsed graph (quantize/tflite_model.py) on one int8 input and returns the
value of every tensor, running each op through its definition in the registry (quantize/ops/).
Layouts are TFLite's: activations [N, H, W, C], conv filters [C_out, KH, KW, C_in], depthwise
filters [1, KH, KW, C], fully-connected weights [units, depth]. The kernels and fixed-point helpers
are re-exported here under the names they always had.
"""

from __future__ import annotations

import numpy as np

from quantize.graph import Graph, Operator
from quantize.ops import op_def
from quantize.ops.add import add_s8  # noqa: F401  (the kernels, re-exported)
from quantize.ops.conv_2d import conv2d_s8  # noqa: F401
from quantize.ops.conv_common import requantize_accumulators  # noqa: F401
from quantize.ops.depthwise_conv_2d import depthwise_conv2d_s8  # noqa: F401
from quantize.ops.dequantize import dequantize_s8  # noqa: F401
from quantize.ops.fully_connected import fully_connected_s8  # noqa: F401
from quantize.ops.gemmlowp import (  # noqa: F401
    SOFTMAX_SUM_INTEGER_BITS,
    exp_on_interval_between_negative_one_quarter_and_0_excl,
    exp_on_negative_values,
    one_over_one_plus_x_for_x_in_0_1,
    reciprocal,
)
from quantize.ops.mean import mean_s8  # noqa: F401
from quantize.ops.pad import pad_s8  # noqa: F401
from quantize.ops.pool import average_pool_s8, max_pool_s8  # noqa: F401
from quantize.ops.requantize import requantize_s8  # noqa: F401
from quantize.ops.reshape import reshape_s8  # noqa: F401
from quantize.ops.softmax import softmax_s8  # noqa: F401
from quantize.ops.windows import windows  # noqa: F401
from quantize.requant import clamp  # noqa: F401


def run_op(graph: Graph, op: Operator, values: dict[int, np.ndarray]) -> np.ndarray:
    """The output of one op, reading its inputs from `values` (tensor index -> array)."""
    inputs = [values[i] if i >= 0 else None for i in op.inputs]
    return op_def(op.op).forward(graph, op, inputs)


def run_forward(graph: Graph, x: np.ndarray, constants: dict[int, np.ndarray] | None = None) -> dict[int, np.ndarray]:
    """Every tensor's value (tensor index -> array) after one forward pass on int8 input `x`.

    x: the int8 model input, shaped like graph.int8_input with or without its batch dimension of
    1 (for a float model, the already-quantized input: the float QUANTIZE of the input is left to
    the caller). Constants are included as stored, except those `constants` replaces (the
    parameters a training step has updated).
    """
    values: dict[int, np.ndarray] = {t.index: t.data for t in graph.tensors if t.data is not None}
    values.update(constants or {})
    entry = graph.tensor(graph.int8_input)
    x = np.asarray(x)
    if x.dtype != np.int8 or x.size != int(np.prod(entry.shape)):
        raise ValueError(f"input of type {x.dtype} and shape {x.shape}; the model takes int8 {entry.shape}")
    values[entry.index] = x.reshape(entry.shape)
    for op in graph.operators:
        if op.outputs[0] == entry.index:  # the float input's QUANTIZE
            continue
        values[op.outputs[0]] = run_op(graph, op, values)
    return values


def run_output(graph: Graph, x: np.ndarray) -> np.ndarray:
    """The int8 model output for int8 input `x` (see run_forward)."""
    return run_forward(graph, x)[graph.int8_output]
