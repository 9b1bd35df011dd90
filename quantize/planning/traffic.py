"""What one training step moves through memory, per layer: MACs, bytes read from flash, bytes read
from and written to SRAM, and the tensors the forward pass keeps for the backward pass with their
lifetimes (CAMEL's data-lifetime view, DESIGN.md).

The step's timeline is the one the memory plan uses (quantize/training/lowering.py): the blob's
forward ops at times 0..num_ops-1, the loss at num_ops, backward step i at num_ops + 1 + i. A kept
tensor lives from the time of the op that writes it (-1: the model's input) to the backward step
that last reads it; its cost in SRAM over the step is its bytes times that lifetime.

The traffic is compulsory traffic: every tensor an op touches counted once per op (an activation
read, an output written, a filter read from wherever the lowering put it). The kernels re-read
operands (a convolution reads its input once per output channel tile, a row-streamed block
recomputes rows); those extra accesses show in the measured instructions, not here. Kernel scratch
and the int32 accumulators of a transposed convolution are not counted either.

Where a constant lives is the lowering's decision: the trained parameters (the blob's trainable
region, LoweredModel.trainable_layout) are copied to SRAM at boot and read and written there;
every other constant (filters, packed filters, biases, requantisation and QAS factors) is read
from flash.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from types import SimpleNamespace

import numpy as np

from quantize.lower import LoweredModel, lower_tflite
from quantize.ops import op_def
# cost.py's counting is used, not re-derived: the blob ops' TFLite members, the pricing of work
# units at RATES, and which units count as MACs (the figures bench train reports).
from quantize.planning.cost import (STREAMED_FACTOR, backward_macs, backward_work, blob_members, forward_work,
                                    training_forward_work, work_instructions, work_macs)
from quantize.tflite_model import Graph, Operator, parse_tflite
from quantize.training.lowering import SHARED_ERROR_OPS, mask_bytes
from quantize.training.program import ACCUMULATE, PARAMETRIC, BackwardStep, TrainingProgram, derive_program
from quantize.training_plan import PlannedLayer, TrainingPlan

# Per output channel of a CONV_2D / FULLY_CONNECTED: the int32 requantisation multiplier and shift
# the forward kernel reads (quantize/lower.py channel_arrays).
REQUANT_BYTES_PER_CHANNEL = 8
# Per output channel of a backward step (training/lowering.py emit): float32 QAS factors of the
# weights and of the bias, int32 back multiplier of the input error.
QAS_BYTES_PER_CHANNEL = 4
BACK_MULTIPLIER_BYTES_PER_CHANNEL = 4

KEPT_INPUT, KEPT_PATCH_MEANS, KEPT_MASK, KEPT_LOGITS = "input", "patch means", "mask", "logits"


@dataclass(frozen=True)
class Traffic:
    """Bytes an op or a step moves: read from flash, read from SRAM, written to SRAM."""

    flash_read: int = 0
    sram_read: int = 0
    sram_write: int = 0

    def __add__(self, other: "Traffic") -> "Traffic":
        return Traffic(self.flash_read + other.flash_read, self.sram_read + other.sram_read,
                       self.sram_write + other.sram_write)

    @property
    def total(self) -> int:
        return self.flash_read + self.sram_read + self.sram_write


@dataclass(frozen=True)
class KeptTensor:
    """A tensor the forward pass writes and the backward pass (or the loss) reads."""

    kind: str        # KEPT_INPUT, KEPT_PATCH_MEANS, KEPT_MASK or KEPT_LOGITS
    op: int          # the TFLite operator whose backward step reads it (the logits: their producer)
    tensor: int      # the TFLite tensor it holds (a mask or patch means: the op's output or input)
    bytes: int
    written: int     # time of the op that writes it (-1: the model's input, before op 0)
    last_read: int   # time of the step that last reads it

    @property
    def lifetime(self) -> int:
        """Ops on the step's timeline from its writing to its last read."""
        return self.last_read - self.written

    @property
    def byte_ops(self) -> int:
        return self.bytes * self.lifetime


@dataclass
class LayerTraffic:
    """One TFLite operator's share of a training step."""

    op: int
    kind: str                    # its op name
    forward_macs: int = 0
    error_macs: int = 0          # its backward step's error pass (cost.backward_macs)
    update_macs: int = 0         # its weight and bias updates
    forward: Traffic = Traffic()
    backward: Traffic = Traffic()
    kept: list[KeptTensor] = field(default_factory=list)
    backward_steps: list[int] = field(default_factory=list)  # indices into program.steps
    # The cost model's instructions (quantize/planning/cost.py RATES, fitted on qemu-m7): the op's
    # forward kernel (times its fused unit's STREAMED_FACTOR) with the masks and patch means it
    # keeps, and its backward steps' error passes and updates.
    predicted_forward_instructions: float = 0.0
    predicted_backward_instructions: float = 0.0

    @property
    def backward_macs(self) -> int:
        return self.error_macs + self.update_macs

    @property
    def traffic(self) -> Traffic:
        return self.forward + self.backward

    @property
    def kept_bytes(self) -> int:
        return sum(k.bytes for k in self.kept)

    @property
    def kept_byte_ops(self) -> int:
        return sum(k.byte_ops for k in self.kept)


@dataclass(frozen=True)
class StepTraffic:
    layers: tuple[LayerTraffic, ...]  # in operator order
    forward_ops: int                  # blob ops: the loss runs at this time

    @property
    def traffic(self) -> Traffic:
        return sum((layer.traffic for layer in self.layers), Traffic())

    @property
    def kept(self) -> list[KeptTensor]:
        return [k for layer in self.layers for k in layer.kept]

    def total(self, attribute: str) -> int:
        """The sum over the layers of one of LayerTraffic's counts ("forward_macs", "kept_bytes", ...)."""
        return sum(getattr(layer, attribute) for layer in self.layers)


def _elements(graph: Graph, tensor: int) -> int:
    return int(np.prod(graph.tensor(tensor).shape))


def _activation_bytes(graph: Graph, tensor: int) -> int:
    """An activation's bytes (int8 on the device, one byte per element)."""
    return _elements(graph, tensor)


def patch_means_bytes(graph: Graph, op: Operator, r: int) -> int:
    """The int8 r x r patch means of the op's input a gradient-filtered layer keeps (edges clipped)."""
    n, *spatial, c = graph.tensor(op.inputs[0]).shape
    return int(n * np.prod([-(-size // r) for size in spatial]) * c)


def kept_input_bytes(graph: Graph, step: BackwardStep) -> int:
    """Bytes the forward pass keeps for the step's weight gradient: its int8 input, or with
    gradient filtering the input's r x r patch means."""
    if not step.weights or step.kind == ACCUMULATE:
        return 0
    return patch_means_bytes(graph, graph.operators[step.op], step.gradient_filter)


def full_update_plan(graph: Graph) -> TrainingPlan:
    """Every weight and bias of every CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED trained."""
    return TrainingPlan(tuple(PlannedLayer(op.index, True, len(op.inputs) > 2 and op.inputs[2] >= 0)
                              for op in graph.operators if op.op in PARAMETRIC), "the full-update plan",
                        name="full update")


def unfiltered_plan(plan: TrainingPlan) -> TrainingPlan:
    """The same plan with gradient_filter 1 on every layer."""
    return replace(plan, layers=tuple(replace(layer, gradient_filter=1) for layer in plan.layers),
                   name=f"{plan.name or 'plan'} without gradient filtering")


def merge_shared_inputs(layers: list[LayerTraffic]) -> None:
    """Keeps an input that several weight layers read once, in the layer that reads it first on the
    backward pass (the highest operator index), alive until the last read."""
    first: dict[int, tuple[LayerTraffic, int]] = {}  # tensor -> (its layer, index in layer.kept)
    for layer in sorted(layers, key=lambda item: -item.op):
        for kept in [k for k in layer.kept if k.kind == KEPT_INPUT]:
            if kept.tensor not in first:
                first[kept.tensor] = (layer, layer.kept.index(kept))
                continue
            owner, at = first[kept.tensor]
            owner.kept[at] = replace(owner.kept[at], last_read=max(owner.kept[at].last_read, kept.last_read))
            layer.kept.remove(kept)


class _Step:
    """The counting of one lowered training step (graph, blob, backward program)."""

    def __init__(self, graph: Graph, lowered: LoweredModel, program: TrainingProgram):
        self.graph, self.lowered, self.program = graph, lowered, program
        self.in_sram = {tensor for tensor, _, _ in lowered.trainable_layout}
        members = blob_members(lowered, graph)
        self.time = {op.index: t for t, ops in enumerate(members) for op in ops}
        self.factor = {op.index: STREAMED_FACTOR.get(name, 1.0) for name, ops in zip(lowered.op_names, members)
                       for op in ops}
        self.producer = {op.outputs[0]: op.index for op in graph.operators}
        self.forward_ops = len(members)
        self.layers = {op.index: LayerTraffic(op.index, op.op) for ops in members for op in ops}

    def written_at(self, tensor: int) -> int:
        """The time the forward pass writes `tensor` (-1: the model's input, or a value the host converts)."""
        return self.time.get(self.producer.get(tensor, -1), -1)

    def constant(self, tensor: int) -> Traffic:
        """Reading a constant from where the lowering put it."""
        size = self.graph.tensor(tensor).data.nbytes
        return Traffic(sram_read=size) if tensor in self.in_sram else Traffic(flash_read=size)

    def forward(self, op: Operator) -> Traffic:
        traffic = Traffic(sram_write=_activation_bytes(self.graph, op.outputs[0]))
        for tensor in (t for t in op.inputs if t >= 0):
            if self.graph.tensor(tensor).data is None:
                traffic += Traffic(sram_read=_activation_bytes(self.graph, tensor))
            else:
                traffic += self.constant(tensor)
        if op.index in self.lowered.packed_ops:  # the packed filter's bytes beyond its int8 size
            traffic += Traffic(flash_read=op_def(op.op).packed_filter_extra(self.graph, op) or 0)
        if op.op in PARAMETRIC:
            channels = self.graph.tensor(op.outputs[0]).shape[-1]
            traffic += Traffic(flash_read=REQUANT_BYTES_PER_CHANNEL * channels)
        return traffic

    def training_forward(self, step: BackwardStep) -> Traffic:
        """What the forward pass writes for the step: the mask of a clamping op's output and the
        patch means of a gradient-filtered layer's input (cost.training_forward_work's units)."""
        op = self.graph.operators[step.op]
        traffic = Traffic()
        if step.mask:
            traffic += Traffic(sram_write=mask_bytes(_elements(self.graph, op.outputs[0])))
        if step.weights and step.gradient_filter > 1:
            traffic += Traffic(sram_read=_activation_bytes(self.graph, op.inputs[0]),
                               sram_write=patch_means_bytes(self.graph, op, step.gradient_filter))
        return traffic

    def backward(self, step: BackwardStep) -> Traffic:
        g, op = self.graph, self.graph.operators[step.op]
        if step.kind == ACCUMULATE:  # the contribution added into the tensor's error
            n = _activation_bytes(g, self.program.error_tensors[step.in_errors[0]])
            return Traffic(sram_read=2 * n, sram_write=n)
        out_error = _activation_bytes(g, op.outputs[0])
        traffic = Traffic(sram_read=mask_bytes(out_error) if step.mask else 0)
        if step.kind not in PARAMETRIC:
            if step.input_error:
                shared = step.kind in SHARED_ERROR_OPS  # the first input error is the output error's bytes
                writes = [g.tensor(self.program.error_tensors[slot]) for slot in step.in_errors if slot is not None]
                written = sum(int(np.prod(t.shape)) for t in writes[1 if shared else 0:])
                traffic += Traffic(sram_read=out_error, sram_write=written)
            if step.derivative is not None:  # the kept input and the int32 derivative table
                traffic += Traffic(sram_read=_activation_bytes(g, op.inputs[0]), flash_read=4 * step.derivative.size)
            return traffic
        c_out = g.tensor(op.outputs[0]).shape[-1]
        channels = len(step.channels)
        if step.input_error:  # the transposed op: output error and filter in, input error out
            traffic += Traffic(sram_read=out_error, sram_write=_activation_bytes(g, op.inputs[0]))
            traffic += self.constant(op.inputs[1])
            traffic += Traffic(flash_read=BACK_MULTIPLIER_BYTES_PER_CHANNEL * c_out)
        if step.weights or step.bias:
            traffic += Traffic(sram_read=out_error)
        if step.weights:  # the kept input, and the planned channels' weights read and written in place
            row = int(np.prod(g.tensor(op.inputs[1]).shape)) // c_out
            traffic += Traffic(sram_read=kept_input_bytes(g, step) + row * channels, sram_write=row * channels,
                               flash_read=QAS_BYTES_PER_CHANNEL * channels)
        if step.bias:  # int32 biases of the planned channels
            traffic += Traffic(sram_read=4 * channels, sram_write=4 * channels,
                               flash_read=QAS_BYTES_PER_CHANNEL * channels)
        return traffic

    def kept(self, step: BackwardStep, time: int) -> list[KeptTensor]:
        """The tensors the step reads that the forward pass kept for it."""
        if step.kind == ACCUMULATE:
            return []
        op = self.graph.operators[step.op]
        kept = []
        if step.mask:
            kept.append(KeptTensor(KEPT_MASK, op.index, op.outputs[0], mask_bytes(_elements(self.graph, op.outputs[0])),
                                   self.time[op.index], time))
        if step.weights and step.gradient_filter > 1:
            kept.append(KeptTensor(KEPT_PATCH_MEANS, op.index, op.inputs[0], kept_input_bytes(self.graph, step),
                                   self.time[op.index], time))
        elif step.weights:
            kept.append(KeptTensor(KEPT_INPUT, op.index, op.inputs[0], kept_input_bytes(self.graph, step),
                                   self.written_at(op.inputs[0]), time))
        elif step.derivative is not None:  # an element-wise op's derivative reads its input
            kept.append(KeptTensor(KEPT_INPUT, op.index, op.inputs[0], _activation_bytes(self.graph, op.inputs[0]),
                                   self.written_at(op.inputs[0]), time))
        return kept

    def count(self) -> StepTraffic:
        g = self.graph
        for index, layer in self.layers.items():
            work = forward_work(g, g.operators[index], self.lowered.packed_ops)
            layer.forward = self.forward(g.operators[index])
            layer.forward_macs = work_macs(work)
            layer.predicted_forward_instructions = work_instructions(work) * self.factor[index]
        for i, step in enumerate(self.program.steps):
            layer = self.layers[step.op]
            time = self.forward_ops + 1 + i
            layer.backward_steps.append(i)
            layer.backward += self.backward(step)
            error, update = backward_work(g, step)
            layer.predicted_backward_instructions += work_instructions(error) + work_instructions(update)
            if step.kind != ACCUMULATE:
                layer.forward += self.training_forward(step)
                # the units cost.predicted_step_cost prices for this step alone
                layer.predicted_forward_instructions += work_instructions(training_forward_work(g, SimpleNamespace(steps=(step,))))
                error_macs, update_macs = backward_macs(g, step)
                layer.error_macs += error_macs
                layer.update_macs += update_macs
            layer.kept.extend(self.kept(step, time))
        merge_shared_inputs(list(self.layers.values()))
        logits = self.program.logits
        if self.program.steps and self.producer.get(logits) in self.layers:
            producer = self.producer[logits]
            self.layers[producer].kept.append(KeptTensor(KEPT_LOGITS, producer, logits,
                                                         _activation_bytes(g, logits), self.time[producer],
                                                         self.forward_ops))
        return StepTraffic(tuple(self.layers[i] for i in sorted(self.layers)), self.forward_ops)


def step_traffic(graph: Graph, lowered: LoweredModel, program: TrainingProgram) -> StepTraffic:
    """The per-layer counts of one training step of `lowered` (lower_graph of `graph` with a plan)
    under `program` (derive_program of the same plan)."""
    return _Step(graph, lowered, program).count()


@dataclass(frozen=True)
class CompiledStep:
    """A model compiled with a plan, and what its training step moves."""

    graph: Graph
    lowered: LoweredModel
    program: TrainingProgram
    traffic: StepTraffic


def compile_step(tflite: bytes, model_name: str, plan: TrainingPlan) -> CompiledStep:
    """Lowers `tflite` with `plan` as `mcutrain build` does and counts its training step."""
    graph = parse_tflite(tflite)
    lowered = lower_tflite(tflite, model_name, plan=plan)
    program = derive_program(graph, plan, plan.qas)
    return CompiledStep(graph, lowered, program, step_traffic(graph, lowered, program))
