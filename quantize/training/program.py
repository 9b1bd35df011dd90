"""The backward program of a model under a training plan: which ops the error crosses, what each
backward step updates, and the per-channel constants it needs (firmware/lib/train/README.md).

The golden step (step.py) executes it on the parsed graph; the lowering (lowering.py) writes it
into the blob's training section, so both sides run the same program.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from quantize import prepare
from quantize.ops import derivative_ops, mean, op_def
from quantize.errors import PlanError
from quantize.tflite_model import Graph, Operator
from quantize.training_plan import TrainingPlan

# Element-wise ops whose backward multiplies the error by their derivative at the kept forward input,
# looked up in a table over the 256 int8 inputs (README "Backward kernels"): LEAKY_RELU, LOGISTIC,
# TANH, HARD_SWISH (the ops whose OpDef gives a derivative).
DERIVATIVE_OPS = derivative_ops()
# Ops with a backward kernel (README "Backward kernels"); PARAMETRIC ones can be trained.
BACKWARD_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "AVERAGE_POOL_2D", "MEAN", "PAD",
                "RESHAPE", "RELU", "MAX_POOL_2D", "MUL", "SUB", "CONCATENATION", "STRIDED_SLICE") + DERIVATIVE_OPS
# Ops of two activation inputs, either or both of which may receive an error.
BINARY = ("ADD", "MUL", "SUB")
# Ops lowered to one backward step per input in the backward set, each writing that input's part of
# the output error (README "CONCATENATION"): BackwardStep.input says which input.
PER_INPUT_OPS = ("CONCATENATION",)
# Standalone activations whose backward is the mask of their clamp. Not RELU6: TFLite Micro's
# clamps in its input's quantization and ignores its output's, which the converter makes different,
# so its int8 forward departs from the float model and a gradient through it points elsewhere
# (measured: cosine 0.67 with TensorFlow's autodiff on a generated model).
ACTIVATIONS = ("RELU",)
PARAMETRIC = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
ACCUMULATE = "ACCUMULATE"       # the step kind that adds a second contribution into a tensor's error
BACK_H_BITS = 4                 # h = e * bm >> 27 keeps 4 bits below e's
MAX_TRANSPOSED_TERMS = 1 << 13  # C_out * KH * KW: |W| * |h| * terms stays below 2^31
MAX_POOL_WINDOWS = 1 << 8       # windows covering an element: |e| * 2^16 * windows stays below 2^31
MEAN_RECIPROCAL_BITS = 16
DERIVATIVE_BITS = 23  # |table entry| < 2^23: |e| * entry stays below 2^30
MAX_DERIVATIVE_EXPONENT = 64  # the firmware's bound on a derivative table's exponent (trainer_bind.cpp)
MAX_MUL_BROADCAST_TERMS = 1 << 12  # output elements per operand element: |h| * |x - z| < 2^19 each
MAX_SUB_BROADCAST_TERMS = 1 << 24  # |e| <= 127 each
MAX_CLASSES = 256  # the firmware's train::kMaxClasses: the loss keeps one int32 per class on the stack


@dataclass(frozen=True)
class BackwardStep:
    op: int                       # TFLite operator index (ACCUMULATE: the op whose contribution it adds)
    kind: str                     # its op name, or ACCUMULATE
    out_error: int                # error slot at the op's output (ACCUMULATE: the tensor's, added into)
    in_errors: tuple[int | None, ...]  # error slot per activation input, None where none is needed
    #                               (ACCUMULATE: the contribution's slot)
    weights: bool                 # weights update
    bias: bool                    # bias updates
    channels: tuple[int, ...]     # the output channels that update
    mask: bool                    # the fused activation clamps inside int8: the error is masked
    act_min: int
    act_max: int
    qas_weight: np.ndarray | None  # float32 [C_out]: the weights' update factor per channel
    qas_bias: np.ndarray | None    # float32 [C_out]
    back_multiplier: np.ndarray | None  # int64 [C_out]: s_W[o] * 2^(E_w + 31)
    back_exponent: int            # 4 + E_w: added to the exponent of the input error
    mean_reciprocal: int          # MEAN: round(2^16 / count), count: the input elements of one output
    gradient_filter: int = 1      # r: the backward pass works on r x r patches (1: no filtering)
    # DERIVATIVE_OPS: int64 [256], the derivative at each int8 input -128..127 times 2^back_exponent
    derivative: np.ndarray | None = None
    # MUL: (multiplier, exponent) of the other operand's scale for each input's error, flattened
    # (M1, E1, M2, E2): in_error scales by s_2, in_error2 by s_1 (README "MUL").
    operand_factors: tuple[int, int, int, int] | None = None
    input: int = 0                # PER_INPUT_OPS: the input whose error in_errors[0] is

    @property
    def kept_input(self) -> bool:
        """The forward pass keeps the op's int8 input whole until this step reads it: for a weight
        gradient, MAX_POOL_2D's maxima, an element-wise op's derivative."""
        if self.kind == ACCUMULATE:
            return False
        return (self.weights and self.gradient_filter == 1) or (
            self.input_error and (self.kind == "MAX_POOL_2D" or self.derivative is not None))

    @property
    def input_error(self) -> bool:
        """The error continues to at least one of the op's inputs."""
        return self.kind != ACCUMULATE and any(slot is not None for slot in self.in_errors)


@dataclass(frozen=True)
class TrainingProgram:
    steps: tuple[BackwardStep, ...]  # in backward order: decreasing operator index
    logits: int                      # tensor index of the int8 logits (a final SOFTMAX's input)
    softmax: prepare.SoftmaxParams   # of the logits, beta 1
    qas: bool
    error_tensors: tuple[int, ...] = ()  # the activation tensor each error slot belongs to (slot 0: the logits)

    @property
    def kept_inputs(self) -> tuple[int, ...]:
        """Op indices whose int8 input the forward pass keeps whole (BackwardStep.kept_input)."""
        return tuple(s.op for s in self.steps if s.kept_input)


def activation_inputs(op: Operator) -> tuple[int, ...]:
    """The tensors an op reads whose error a backward step may need (ADD, MUL, SUB: both, a
    constant operand never in the backward set; CONCATENATION: all; the others: the first input)."""
    if op.op in PER_INPUT_OPS:
        return tuple(op.inputs)
    return tuple(op.inputs[:2]) if op.op in BINARY else (op.inputs[0],)


def _producers(graph: Graph) -> dict[int, Operator]:
    return {op.outputs[0]: op for op in graph.operators}


def _upstream(graph: Graph, producers: dict[int, Operator], tensor: int) -> set[int]:
    """The operators whose output the value of `tensor` depends on (its producer included)."""
    seen: set[int] = set()
    pending = [tensor]
    while pending:
        op = producers.get(pending.pop())
        if op is None or op.index in seen:
            continue
        seen.add(op.index)
        pending.extend(t for t in op.inputs if t >= 0)
    return seen


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
    bm, back_exponent = back_multipliers(s_w)
    return qw.astype(np.float32), qb.astype(np.float32), bm, back_exponent


def back_multipliers(scales: np.ndarray) -> tuple[np.ndarray, int]:
    """(bm, 4 + E) for real scales: bm = round(s * 2^(E + 31)) with E = -floor(log2(max s)) - 1, so
    bm <= 2^31 - 1 (README "CONV_2D" 1, "MUL")."""
    e = -math.floor(math.log2(float(np.max(scales)))) - 1
    bm = np.minimum(np.round(np.asarray(scales, dtype=np.float64) * 2.0 ** (e + 31)), (1 << 31) - 1)
    return bm.astype(np.int64), BACK_H_BITS + e


def broadcast_terms(graph: Graph, op: Operator, position: int) -> int:
    """Output elements that read one element of an element-wise op's input (1 unless broadcast)."""
    operand = int(np.prod(graph.tensor(op.inputs[position]).shape))
    return int(np.prod(graph.tensor(op.outputs[0]).shape)) // max(operand, 1)


def derive_program(graph: Graph, plan: TrainingPlan, qas: bool = True) -> TrainingProgram:
    """The backward program from the logits down to the planned ops (README "The backward
    program"): every op on a path from a planned op's output to the logits, in decreasing operator
    index, with an ACCUMULATE step where a tensor's error has a second contribution. Raises
    PlanError naming the plan and the operator when the graph is not one this engine runs."""
    producers = _producers(graph)
    logits = graph.int8_output
    where = plan.source
    if producers[logits].op == "SOFTMAX":  # the loss takes the logits, the softmax's input
        logits = producers[logits].inputs[0]
    softmax = prepare.softmax_scaling(1.0, graph.tensor(logits).scale)
    planned = {layer.op: layer for layer in plan.layers}
    upstream = _upstream(graph, producers, logits)
    for index in sorted(planned):
        if index not in upstream:
            raise PlanError(f"{where}: operator {index} is not on a path from the model input to the logits")
    # The backward set: the ops whose output depends on a planned op's and reaches the logits.
    reach: set[int] = set()
    backward_ops: list[Operator] = []
    for op in graph.operators:
        if op.index in upstream and (op.index in planned or any(t in reach for t in activation_inputs(op))):
            reach.add(op.outputs[0])
            backward_ops.append(op)
    for op in backward_ops:
        if op.op not in BACKWARD_OPS:
            raise PlanError(f"{where}: the training error crosses operator {op.index} ({op.op}), which has no "
                            f"backward pass yet (supported: {', '.join(BACKWARD_OPS)})")
        unsupported = _backward_option(op)
        if unsupported:
            raise PlanError(f"{where}: the training error crosses operator {op.index} ({op.op}) with {unsupported}, "
                            f"which has no backward pass yet (supported: strides {BACKWARD_STRIDES[0]} to "
                            f"{BACKWARD_STRIDES[-1]})")
    error_tensors = [logits]
    slot_of = {logits: 0}
    steps: list[BackwardStep] = []
    for op in reversed(backward_ops):  # TFLite's operator order is topological
        in_errors: list[int | None] = []
        accumulates = []
        for tensor in activation_inputs(op):
            if tensor not in reach:
                in_errors.append(None)
                continue
            slot = len(error_tensors)
            error_tensors.append(tensor)
            in_errors.append(slot)
            if tensor in slot_of:  # a second consumer's contribution: added into the first's slot
                accumulates.append(_accumulate(op, slot_of[tensor], slot))
            else:
                slot_of[tensor] = slot
        step = _step(graph, op, planned.get(op.index), slot_of[op.outputs[0]], tuple(in_errors), qas, where)
        if op.op in PER_INPUT_OPS:  # one step per input that needs its error
            steps.extend(dataclasses.replace(step, in_errors=(slot,), input=i)
                         for i, slot in enumerate(in_errors) if slot is not None)
        else:
            steps.append(step)
        steps.extend(accumulates)
    classes = int(np.prod(graph.tensor(logits).shape))
    if steps and classes > MAX_CLASSES:
        raise PlanError(f"{where}: the logits (tensor {logits}) have {classes} elements; the device's loss takes at "
                        f"most {MAX_CLASSES} classes")
    return TrainingProgram(tuple(steps), logits, softmax, qas, tuple(error_tensors))


BACKWARD_STRIDES = (1, 2, 3, 4)  # the forward's; any dilation and depth multiplier it takes


def _backward_option(op: Operator) -> str | None:
    """The forward-only option of a windowed op (README "Supported ops"), or None."""
    o = op.options
    if op.op not in ("CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D"):
        return None
    if o.stride_h not in BACKWARD_STRIDES or o.stride_w not in BACKWARD_STRIDES:
        return f"stride {o.stride_h}x{o.stride_w}"
    return None


def _accumulate(op: Operator, target: int, contribution: int) -> BackwardStep:
    return BackwardStep(op.index, ACCUMULATE, target, (contribution,), False, False, (), False, -128, 127, None, None,
                        None, 0, 0)


def _step(graph: Graph, op: Operator, layer, out_error: int, in_errors: tuple[int | None, ...], qas: bool,
          where: str) -> BackwardStep:
    y = graph.tensor(op.outputs[0])
    act_min, act_max = -128, 127
    qw = qb = bm = derivative = None
    back_exponent = mean_reciprocal = 0
    operand_factors = None
    input_error = any(slot is not None for slot in in_errors)
    if op.op in PARAMETRIC:
        p = prepare.fully_connected(graph, op) if op.op == "FULLY_CONNECTED" else prepare.conv(graph, op)
        act_min, act_max = p.act_min, p.act_max
        qw, qb, bm, back_exponent = _channel_factors(graph, op, qas)
        w = graph.tensor(op.inputs[1])
        # Terms of one input error element: C_out * KH * KW (depthwise: its channel's M * KH * KW, M
        # the depth multiplier); dilation spreads the taps without adding any.
        taps = w.shape[1] * w.shape[2] if len(w.shape) == 4 else 1
        multiplier = y.shape[-1] // graph.tensor(op.inputs[0]).shape[-1]
        terms = multiplier * taps if op.op == "DEPTHWISE_CONV_2D" else w.shape[0] * taps
        if input_error and terms >= MAX_TRANSPOSED_TERMS:
            raise PlanError(f"{where}: operator {op.index} ({op.op}): {terms} output terms per input error element, "
                            f"at most {MAX_TRANSPOSED_TERMS - 1} (int32 accumulator)")
    elif op.op in BINARY:
        p = op_def(op.op).prepare(graph, op)
        act_min, act_max = p.act_min, p.act_max
        limit = MAX_MUL_BROADCAST_TERMS if op.op == "MUL" else MAX_SUB_BROADCAST_TERMS
        for position, slot in enumerate(in_errors):
            terms = broadcast_terms(graph, op, position)
            if slot is not None and op.op != "ADD" and terms >= limit:
                raise PlanError(f"{where}: operator {op.index} ({op.op}): {terms} output elements read one element "
                                f"of input {position}, at most {limit - 1} (int32 accumulator)")
        if op.op == "MUL":
            (m1, e1), (m2, e2) = (back_multipliers([graph.tensor(op.inputs[i]).scale]) for i in (1, 0))
            operand_factors = (int(m1[0]), e1, int(m2[0]), e2)
    elif op.op in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        p = prepare.pool(graph, op)
        act_min, act_max = p.act_min, p.act_max
        windows = -(-p.filter_h // p.stride_h) * -(-p.filter_w // p.stride_w)
        if input_error and windows > MAX_POOL_WINDOWS:
            raise PlanError(f"{where}: operator {op.index} ({op.op}): {windows} windows cover an input "
                            f"element, at most {MAX_POOL_WINDOWS} (int32 accumulator)")
    elif op.op in ACTIVATIONS:
        p = op_def(op.op).prepare(graph, op)
        act_min, act_max = p.act_min, p.act_max
    elif op.op == "MEAN":
        mean_reciprocal = round((1 << MEAN_RECIPROCAL_BITS) / mean.reduced_count(graph, op))
    elif op.op in DERIVATIVE_OPS:
        derivative, back_exponent = derivative_table(op_def(op.op).derivative(graph, op))
        if abs(back_exponent) > MAX_DERIVATIVE_EXPONENT:
            raise PlanError(f"{where}: operator {op.index} ({op.op}): its derivative over the input's int8 range "
                            f"needs the exponent {back_exponent}, at most {MAX_DERIVATIVE_EXPONENT} in magnitude "
                            "(the input's range lies where the function is flat)")
    c_out = y.shape[-1]
    weights = bool(layer and layer.weights)
    bias = bool(layer and layer.bias)
    channels = tuple(layer.channel_indices(c_out)) if (weights or bias) else ()
    # A fused ReLU or ReLU6 often clamps at the int8 limits themselves (its range is the output's
    # whole quantized range): the activation, not the clamp values, says whether to mask.
    clamps = op.op in ACTIVATIONS or getattr(op.options, "activation", "NONE") != "NONE"
    r = layer.gradient_filter if layer else 1
    return BackwardStep(op.index, op.op, out_error, in_errors, weights, bias, channels, clamps, act_min, act_max, qw,
                        qb, bm, back_exponent, mean_reciprocal, r, derivative=derivative,
                        operand_factors=operand_factors)


def derivative_table(derivative: np.ndarray) -> tuple[np.ndarray, int]:
    """An element-wise op's derivative at the 256 int8 inputs (float64) as integers with one
    power-of-two exponent E (README "Backward kernels", LEAKY_RELU ...): round(d * 2^E) with E the
    largest that keeps every entry below 2^DERIVATIVE_BITS in magnitude; (int64 [256], E). All
    zero: E = 0."""
    peak = float(np.abs(derivative).max())
    if peak == 0.0:
        return np.zeros(derivative.shape, dtype=np.int64), 0
    exponent = DERIVATIVE_BITS - 1 - math.floor(math.log2(peak))
    limit = (1 << DERIVATIVE_BITS) - 1
    return np.clip(np.round(derivative * 2.0 ** exponent), -limit, limit).astype(np.int64), exponent
