"""The backward program of a model under a training plan: which ops the error crosses, what each
backward step updates, and the per-channel constants it needs (firmware/lib/train/README.md).

The golden step (step.py) executes it on the parsed graph; the lowering (lowering.py) writes it
into the blob's training section, so both sides run the same program.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from quantize import prepare
from quantize.errors import PlanError
from quantize.tflite_model import Graph, Operator
from quantize.training_plan import TrainingPlan

# Ops with a backward kernel (README "Backward kernels"); PARAMETRIC ones can be trained.
BACKWARD_OPS = ("CONV_2D", "FULLY_CONNECTED", "MEAN", "RESHAPE")
PARAMETRIC = ("CONV_2D", "FULLY_CONNECTED")
BACK_H_BITS = 4                 # h = e * bm >> 27 keeps 4 bits below e's
MAX_TRANSPOSED_TERMS = 1 << 13  # C_out * KH * KW: |W| * |h| * terms stays below 2^31
MEAN_RECIPROCAL_BITS = 16
MAX_CLASSES = 256  # the firmware's train::kMaxClasses: the loss keeps one int32 per class on the stack


@dataclass(frozen=True)
class BackwardStep:
    op: int                       # TFLite operator index
    kind: str                     # its op name
    weights: bool                 # weights update
    bias: bool                    # bias updates
    channels: tuple[int, ...]     # the output channels that update
    input_error: bool             # the error continues to the op's input
    mask: bool                    # the fused activation clamps inside int8: the error is masked
    act_min: int
    act_max: int
    qas_weight: np.ndarray | None  # float32 [C_out]: the weights' update factor per channel
    qas_bias: np.ndarray | None    # float32 [C_out]
    back_multiplier: np.ndarray | None  # int64 [C_out]: s_W[o] * 2^(E_w + 31)
    back_exponent: int            # 4 + E_w: added to the exponent of the input error
    mean_reciprocal: int          # MEAN: round(2^16 / (H * W))


@dataclass(frozen=True)
class TrainingProgram:
    steps: tuple[BackwardStep, ...]  # in backward order: the op nearest the output first
    logits: int                      # tensor index of the int8 logits (a final SOFTMAX's input)
    softmax: prepare.SoftmaxParams   # of the logits, beta 1
    qas: bool

    @property
    def kept_inputs(self) -> tuple[int, ...]:
        """Op indices whose int8 input the forward pass keeps for a weight gradient."""
        return tuple(s.op for s in self.steps if s.weights)


def _producers(graph: Graph) -> dict[int, Operator]:
    return {op.outputs[0]: op for op in graph.operators}


def _consumers(graph: Graph, tensor: int) -> list[Operator]:
    return [op for op in graph.operators if tensor in op.inputs]


def _channel_factors(graph: Graph, op: Operator, qas: bool):
    """(qas_weight, qas_bias, back_multiplier, back_exponent) of a CONV_2D or FULLY_CONNECTED."""
    x, w, y = (graph.tensor(i) for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
    c_out = y.shape[-1]
    s_w = w.quantization.scales.astype(np.float64)
    s_w = np.repeat(s_w, c_out) if len(s_w) == 1 else s_w
    s_x = np.float64(x.scale)
    if qas:
        qw, qb = s_x / s_w, 1.0 / (s_w * s_x)
    else:
        qw, qb = s_x * s_w, s_w * s_x
    e_w = -math.floor(math.log2(float(s_w.max()))) - 1
    bm = np.minimum(np.round(s_w * 2.0 ** (e_w + 31)), (1 << 31) - 1).astype(np.int64)
    return qw.astype(np.float32), qb.astype(np.float32), bm, BACK_H_BITS + e_w


def derive_program(graph: Graph, plan: TrainingPlan, qas: bool = True) -> TrainingProgram:
    """The chain of backward steps from the logits down to the earliest planned op; raises
    PlanError naming the plan and the operator when the chain is not one this engine runs."""
    producers = _producers(graph)
    logits = graph.int8_output
    where = plan.source
    if producers[logits].op == "SOFTMAX":  # the loss takes the logits, the softmax's input
        logits = producers[logits].inputs[0]
    planned = {layer.op: layer for layer in plan.layers}
    earliest = min(planned, default=None)
    steps: list[BackwardStep] = []
    tensor = logits
    while earliest is not None:
        op = producers.get(tensor)
        if op is None or op.op == "QUANTIZE" and op.outputs[0] == graph.int8_input:
            raise PlanError(f"{where}: operator {earliest} is not on the path from the model input to the logits")
        if op.op not in BACKWARD_OPS:
            raise PlanError(f"{where}: the error from the loss to operator {earliest} crosses operator {op.index} "
                            f"({op.op}), which has no backward pass yet (supported: {', '.join(BACKWARD_OPS)})")
        layer = planned.get(op.index)
        if op.index != earliest and len(_consumers(graph, op.inputs[0])) > 1:
            raise PlanError(f"{where}: the error from the loss to operator {earliest} crosses operator {op.index} "
                            f"({op.op}), whose input feeds several operators (a branch): not supported yet")
        steps.append(_step(graph, op, layer, op.index != earliest, qas, where))
        if op.index == earliest:
            break
        tensor = op.inputs[0]
    classes = int(np.prod(graph.tensor(logits).shape))
    if steps and classes > MAX_CLASSES:
        raise PlanError(f"{where}: the logits (tensor {logits}) have {classes} elements; the device's loss takes at "
                        f"most {MAX_CLASSES} classes")
    missing = set(planned) - {s.op for s in steps}
    if missing:
        raise PlanError(f"{where}: operator {min(missing)} is not on the chain of operators that ends in the logits")
    return TrainingProgram(tuple(steps), logits, prepare.softmax_scaling(1.0, graph.tensor(logits).scale), qas)


def _step(graph: Graph, op: Operator, layer, input_error: bool, qas: bool, where: str) -> BackwardStep:
    y = graph.tensor(op.outputs[0])
    act_min, act_max = -128, 127
    qw = qb = bm = None
    back_exponent = mean_reciprocal = 0
    if op.op in PARAMETRIC:
        p = prepare.conv(graph, op) if op.op == "CONV_2D" else prepare.fully_connected(graph, op)
        act_min, act_max = p.act_min, p.act_max
        qw, qb, bm, back_exponent = _channel_factors(graph, op, qas)
        w = graph.tensor(op.inputs[1])
        terms = w.shape[0] * (w.shape[1] * w.shape[2] if len(w.shape) == 4 else 1)
        if input_error and terms >= MAX_TRANSPOSED_TERMS:
            raise PlanError(f"{where}: operator {op.index} ({op.op}): {terms} output terms per input error element, "
                            f"at most {MAX_TRANSPOSED_TERMS - 1} (int32 accumulator)")
    elif op.op == "MEAN":
        x = graph.tensor(op.inputs[0])
        mean_reciprocal = round((1 << MEAN_RECIPROCAL_BITS) / (x.shape[1] * x.shape[2]))
    c_out = y.shape[-1]
    weights = bool(layer and layer.weights)
    bias = bool(layer and layer.bias)
    channels = tuple(layer.channel_indices(c_out)) if (weights or bias) else ()
    # A fused ReLU or ReLU6 often clamps at the int8 limits themselves (its range is the output's
    # whole quantized range): the activation, not the clamp values, says whether to mask.
    clamps = getattr(op.options, "activation", "NONE") != "NONE"
    return BackwardStep(op.index, op.op, weights, bias, channels, input_error, clamps, act_min, act_max, qw, qb, bm,
                        back_exponent, mean_reciprocal)
