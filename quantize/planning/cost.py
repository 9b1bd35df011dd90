"""Predicted instructions of one training step on the device, without running it.

A linear model: the work of the step is counted in a few units per kernel kind (the MACs of a
convolution, its output elements, the weights an update writes, ...), and each unit costs a fixed
number of instructions measured on qemu-m7 (RATES). The counts come from the lowered blob (which
ops run, packed or not, row-streamed or not) and the backward program (what each step computes,
firmware/lib/train/README.md); backward_macs, the MACs `mcutrain bench train` reports per backward
step, is derived from the same counts.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from quantize.lower import LoweredModel, streaming_units
from quantize.tflite_model import Graph, Operator
from quantize.training.program import ACCUMULATE, BackwardStep, TrainingProgram

# Instructions per unit of work on qemu-m7 (QEMU -icount shift=0, one instruction per tick of
# 1e9 / counter_hz ns), fitted by least squares to the per-op figures of
#   mcutrain bench forward --board qemu-m7 --model ref|mbv2-w0.35-128 --json
#   mcutrain bench train --board qemu-m7 --model ref --plan head|demo|demo-gf2|demo-gf4 --json
#   mcutrain bench train --board qemu-m7 --model mbv2-w0.35-128 --plan head|sparse|sparse-gf2 --json
# and the model runner's per-op forward figures of ref and mbv2-w0.35-128 lowered with
# stream="all" (row chains and inverted-residual blocks), measured 2026-12-02 at commit 667f0af.
# A unit is named "phase.kernel.unit" and counted in forward_work, training_forward_work or
# backward_work. On those plans the prediction is within 1.4% of instructions_per_step (in-sample).
RATES: dict[str, float] = {
    # forward, per blob op and per unit of the kernel that runs (whole tensors)
    "forward.op": 599,                 # an op's dispatch and set-up
    "forward.pw_packed.mac": 0.700,    # pointwise CONV_2D, filter packed in flash
    "forward.pw_packed.out": 4.59,     # its requantisation per output
    "forward.pw.mac": 0.620,           # pointwise CONV_2D, int8 filter (trained or crossed by the error)
    "forward.pw.out": 10.06,
    "forward.widened_weight": 2.00,    # an int8 filter's weights widened once per tile of pixels
    "forward.conv1.mac": 1.65,         # CONV_2D of one input channel (conv2d_one_channel)
    "forward.conv.mac": 2.30,          # other CONV_2D: from mbv2's ROW_CHAIN, through ROW_CHAIN's factor
    "forward.dw.mac": 1.51,            # DEPTHWISE_CONV_2D
    "forward.dw.in": 1.97,             # its input widened
    "forward.dw.channel": 161,         # its per-channel set-up
    "forward.fc.mac": 8.02,            # FULLY_CONNECTED
    "forward.add.elem": 22.8,          # ADD, per output element
    "forward.mean.elem": 7.63,         # MEAN, per input element
    "forward.other.elem": 8.0,         # PAD, RESHAPE, AVERAGE_POOL_2D: not measured (none in the models)
    # what training adds to the forward pass
    "forward.mask.elem": 10.9,         # the 1-bit mask of a clamping op's output
    "forward.patch_mean.elem": 7.64,   # gradient filtering's patch means, per input element
    "forward.patch_mean.patch": 36.6,  # and per patch and channel
    # backward: error passes
    "backward.step": 147,
    "backward.in_error.elem": 36.8,    # the int32 input error normalised to int8
    "backward.conv.mac": 1.01,         # transposed CONV_2D
    "backward.dw.mac": 14.7,           # transposed DEPTHWISE_CONV_2D
    "backward.fc.mac": 2.51,           # transposed FULLY_CONNECTED
    "backward.mean.elem": 0.772,       # MEAN's spreading
    "backward.mean.channel": 32.9,
    "backward.pool.window": 2.0,       # AVERAGE_POOL_2D's spreading: not measured
    "backward.elem": 0.0,              # ADD, PAD, RESHAPE, ACCUMULATE: measured ~0 on ADD (in place)
    "backward.filter.elem": 8.77,      # gradient filtering: the output error summed per patch
    "backward.filter.patch": 89.1,     # each patch's sum normalised
    "backward.conv.patch_mac": 1.54,   # the filtered input error
    "backward.dw.patch_mac": 9.31,
    "backward.fc.patch_mac": 2.51,     # (no FULLY_CONNECTED filters: check_plan refuses it)
    "bias.elem": 7.64,                 # the bias sums, per position and channel
    # updates
    "update.weight": 26.2,             # a weight's QAS update with stochastic rounding
    "update.conv.mac": 0.840,          # weight gradient of CONV_2D
    "update.dw.mac": 6.03,
    "update.fc.mac": 1.73,
    "update.conv.patch_mac": 0.807,    # the filtered weight gradient, per patch
    "update.dw.patch_mac": 56.3,
    "update.fc.patch_mac": 1.73,
}

# The fused kernels run their members' kernels row by row (ROW_CHAIN) or band by band
# (INVERTED_RESIDUAL): their cost is the members' whole-tensor cost times this factor (ROW_CHAIN:
# ref's two chains; INVERTED_RESIDUAL: the 17 blocks of ref and mbv2-w0.35-128, 1.20 to 1.62).
STREAMED_FACTOR: dict[str, float] = {"ROW_CHAIN": 1.07, "INVERTED_RESIDUAL": 1.32}

# The product firmware's step beyond the runner's forward, backward and update: the loss (softmax
# over the classes) and the step's bookkeeping (1,040 to 5,560 measured).
STEP_OVERHEAD = 2200

STREAMED_OPS = ("ROW_CHAIN", "INVERTED_RESIDUAL")
CONV_SCRATCH_WORDS = 1280  # firmware/lib/kernels/conv2d_s8.cpp kScratchWords: a tile of patches
PAIR_CONSTANT_WORDS = 10   # conv2d_s8.h kPairConstantWords


@dataclass(frozen=True)
class StepCost:
    forward: int   # instructions of the forward pass (with the masks and patch means it keeps)
    backward: int  # the backward steps' error passes (input errors, gradient filtering, bias sums)
    update: int    # weight gradients and the weights' updates of the trained layers
    overhead: int = STEP_OVERHEAD  # the loss and the step's bookkeeping

    @property
    def total(self) -> int:
        return self.forward + self.backward + self.update + self.overhead


def _shape(graph: Graph, tensor: int) -> tuple[int, ...]:
    return tuple(graph.tensor(tensor).shape)


def _size(graph: Graph, tensor: int) -> int:
    return int(np.prod(_shape(graph, tensor)))


def _conv_kind(graph: Graph, op: Operator, packed: set[int]) -> str:
    """The kernel that runs a convolution: "dw", "pw_packed", "pw" (an int8 pointwise
    filter), "conv1" or "conv"."""
    if op.op == "DEPTHWISE_CONV_2D":
        return "dw"
    w = _shape(graph, op.inputs[1])
    if w[1] * w[2] == 1:
        return "pw_packed" if op.index in packed else "pw"
    return "conv1" if w[-1] == 1 else "conv"  # conv1: one input channel (conv2d_one_channel.cpp)


def _widened_weights(graph: Graph, op: Operator) -> int:
    """Weights an int8 filter widens: all of them once per tile of output pixels (conv2d_s8.cpp plan_conv)."""
    w = _shape(graph, op.inputs[1])
    groups = -(-int(np.prod(w[1:])) // 4)
    fit = (CONV_SCRATCH_WORDS - PAIR_CONSTANT_WORDS - groups * 4) // (groups * 2) // 2 * 2
    pixels = int(np.prod(_shape(graph, op.outputs[0])[:-1]))
    return int(np.prod(w)) * -(-pixels // max(fit, 2))


def forward_work(graph: Graph, op: Operator, packed: set[int]) -> Counter:
    """Units of one TFLite operator's forward kernel on whole tensors."""
    work: Counter = Counter({"forward.op": 1})
    out = _size(graph, op.outputs[0])
    if op.op in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        kind = _conv_kind(graph, op, packed)
        w = _shape(graph, op.inputs[1])
        taps = int(np.prod(w[1:3])) if kind == "dw" else int(np.prod(w[1:]))
        work[f"forward.{kind}.mac"] += out * taps
        if kind.startswith("pw"):  # the requantisation of each output
            work[f"forward.{kind}.out"] += out
        if kind == "pw":
            work["forward.widened_weight"] += _widened_weights(graph, op)
        if kind == "dw":  # each input element widened once per channel, each channel's set-up
            work["forward.dw.in"] += _size(graph, op.inputs[0])
            work["forward.dw.channel"] += w[-1]
    elif op.op == "FULLY_CONNECTED":
        work["forward.fc.mac"] += out * _shape(graph, op.inputs[1])[-1]
    elif op.op == "ADD":
        work["forward.add.elem"] += out
    elif op.op == "MEAN":
        work["forward.mean.elem"] += _size(graph, op.inputs[0])
    else:  # PAD, RESHAPE, AVERAGE_POOL_2D, ...: an element-wise pass
        work["forward.other.elem"] += out
    return work


def blob_members(lowered: LoweredModel, graph: Graph) -> list[list[Operator]]:
    """The TFLite operators each blob op runs, in blob order: the lowering fuses the first
    streaming units (quantize/lower.py streaming_units) and emits every other op as itself."""
    fused = streaming_units(graph)[:sum(name in STREAMED_OPS for name in lowered.op_names)]
    fused_members = {i for unit in fused for i in unit.members}
    units = iter(fused)
    plain = iter(op for op in graph.operators if op.index not in fused_members and not graph.converts_at_edge(op))
    return [[graph.operators[i] for i in next(units).members] if name in STREAMED_OPS else [next(plain)]
            for name in lowered.op_names]


def work_instructions(work: Counter) -> float:
    """Predicted instructions of some work (units counted by the *_work functions)."""
    return sum(RATES[unit] * count for unit, count in work.items())


def forward_cost(lowered: LoweredModel, graph: Graph) -> float:
    """Instructions of the blob's forward pass (inference only)."""
    total = 0.0
    for name, members in zip(lowered.op_names, blob_members(lowered, graph)):
        work = sum((forward_work(graph, op, lowered.packed_ops) for op in members), Counter())
        total += work_instructions(work) * STREAMED_FACTOR.get(name, 1.0)
    return total


def _weight_taps(graph: Graph, op: Operator, step: BackwardStep) -> int:
    """Terms of one output element: KH * KW * C_in (depthwise: KH * KW; FULLY_CONNECTED: its depth)."""
    shape = _shape(graph, op.inputs[1])
    return int(np.prod(shape[1:3])) if step.kind == "DEPTHWISE_CONV_2D" else int(np.prod(shape[1:]))


def backward_work(graph: Graph, step: BackwardStep) -> tuple[Counter, Counter]:
    """Units of one backward step as (error pass, updates) (firmware/lib/train/trainer.cpp): the
    input error's transposed convolution; the weight gradient of the planned channels, the weights
    it writes and the bias sums; MEAN's and AVERAGE_POOL_2D's spreading, one per input element and
    window; ADD, PAD, ACCUMULATE per element. Gradient filtering (README "Gradient filtering")
    filters the output error per element, then works per r x r patch with one gradient for all taps
    of a depthwise channel."""
    op = graph.operators[step.op]
    error, update = Counter({"backward.step": 1}), Counter()
    x, y = _shape(graph, op.inputs[0]), _shape(graph, op.outputs[0])
    out = int(np.prod(y))
    if step.kind == ACCUMULATE:
        error["backward.elem"] += _size(graph, op.inputs[0])  # the contribution to one of the op's inputs
        return error, update
    if step.kind == "MEAN":
        if step.input_error:  # each channel's error spread over its H x W inputs
            error["backward.mean.elem"] += int(np.prod(x))
            error["backward.mean.channel"] += out
        return error, update
    if step.kind in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        error["backward.pool.window"] += out * op.options.filter_h * op.options.filter_w if step.input_error else 0
        return error, update
    if step.kind not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
        error["backward.elem"] += out if step.input_error else 0
        return error, update
    kind = {"FULLY_CONNECTED": "fc", "DEPTHWISE_CONV_2D": "dw"}.get(step.kind, "conv")
    if step.input_error:  # the int32 input error, normalised to int8 (README "Error tensors")
        error["backward.in_error.elem"] += int(np.prod(x))
    positions = out // y[-1]
    terms = _weight_taps(graph, op, step)
    channels = len(step.channels)
    # The bias sums: the updates' time, or with gradient filtering the error pass's (the device sums
    # the bias before it filters the error).
    (error if step.gradient_filter > 1 else update)["bias.elem"] += positions * channels if step.bias else 0
    if step.weights:
        update["update.weight"] += terms * channels
    if step.gradient_filter > 1:
        r = step.gradient_filter
        patches = y[0] * -(-y[1] // r) * -(-y[2] // r)
        error["backward.filter.elem"] += out
        error["backward.filter.patch"] += patches * y[-1]  # each patch's sum, normalised
        if step.input_error:
            error[f"backward.{kind}.patch_mac"] += patches * y[-1] * terms
        if step.weights:
            gradient_terms = 1 if kind == "dw" else _shape(graph, op.inputs[1])[-1]
            update[f"update.{kind}.patch_mac"] += patches * gradient_terms * channels
        return error, update
    if step.input_error:
        error[f"backward.{kind}.mac"] += out * terms
    if step.weights:
        update[f"update.{kind}.mac"] += positions * terms * channels
    return error, update


# The units `mcutrain bench train` reports as a backward step's MACs: multiply-accumulates, and the
# one-term-per-element passes (bias sums, MEAN's and AVERAGE_POOL_2D's spreading, the error's filter);
# ADD, PAD and ACCUMULATE count none.
MAC_UNITS = ("mac", "patch_mac", "mean.elem", "pool.window", "bias.elem", "filter.elem")


def work_macs(work: Counter) -> int:
    """The multiply-accumulates among some work's units."""
    return sum(count for unit, count in work.items() if unit.endswith(MAC_UNITS))


def backward_macs(graph: Graph, step: BackwardStep) -> tuple[int, int]:
    """Multiply-accumulates of one backward step as (error pass, updates): backward_work's MAC_UNITS."""
    error, update = backward_work(graph, step)
    return work_macs(error), work_macs(update)


def training_forward_work(graph: Graph, program: TrainingProgram) -> Counter:
    """What the training step's forward pass adds to inference: the masks of the backward set's
    clamping ops and the patch means of filtered weight gradients (README "What the forward pass keeps")."""
    work: Counter = Counter()
    for step in program.steps:
        op = graph.operators[step.op]
        if step.kind != ACCUMULATE and step.mask:
            work["forward.mask.elem"] += _size(graph, op.outputs[0])
        if step.kind != ACCUMULATE and step.weights and step.gradient_filter > 1:
            n, h, w, c = _shape(graph, op.inputs[0])
            r = step.gradient_filter
            work["forward.patch_mean.elem"] += n * h * w * c
            work["forward.patch_mean.patch"] += n * -(-h // r) * -(-w // r) * c
    return work


def predicted_step_cost(lowered: LoweredModel, graph: Graph, program: TrainingProgram | None) -> StepCost:
    """The predicted instructions of one training step of `lowered` (lower_graph of `graph` with
    the plan) under `program` (derive_program of the same plan; None: inference only) on qemu-m7."""
    forward = forward_cost(lowered, graph)
    backward = update = 0.0
    if program is not None:
        forward += work_instructions(training_forward_work(graph, program))
        for step in program.steps:
            error, updates = backward_work(graph, step)
            backward += work_instructions(error)
            update += work_instructions(updates)
    return StepCost(round(forward), round(backward), round(update))
