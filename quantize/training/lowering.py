"""The blob's training section: a TrainingProgram (program.py) laid out for the firmware's trainer
(firmware/lib/train/training_format.h mirrors these structs field by field), and the arena
buffers a training step adds to the memory plan: error tensors, activation masks, kernel scratch,
and the longer lives of the inputs that weight gradients read.

Backward time: the forward ops run at times 0..num_ops-1, the loss at num_ops, backward step i
at num_ops + 1 + i. Each buffer lives from the time it is written to the time it is last read.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from quantize.training.program import PARAMETRIC, TrainingProgram

TRAIN_HEADER = struct.Struct("<HHiiiHHI")  # TrainHeader
TRAIN_STEP = struct.Struct("<8H4I2i")      # TrainStep
assert (TRAIN_HEADER.size, TRAIN_STEP.size) == (24, 40)
NO_TENSOR = 0xFFFF

STEP_WEIGHTS, STEP_BIAS, STEP_INPUT_ERROR, STEP_MASK = 1, 2, 4, 8
HEADER_QAS = 1


def mask_bytes(elements: int) -> int:
    return (elements + 7) // 8


def conv_scratch_bytes(input_elements: int, output_elements: int, filter_row: int, input_error: bool,
                       weights: bool) -> int:
    """A CONV_2D / FULLY_CONNECTED backward step's scratch (backward_s8.h conv_scratch_bytes): the
    input error's int32 accumulators over the input and int16 channel-scaled errors over the
    output, or one output channel's int32 weight gradient (filter_row = KH * KW * C_in), the larger."""
    return max(4 * input_elements + 2 * output_elements if input_error else 0, 4 * filter_row if weights else 0)


@dataclass
class _StepTensors:
    out_error: int
    in_error: int | None = None
    mask: int | None = None
    scratch: int | None = None


@dataclass
class TrainingLayout:
    """The blob tensors and lifetimes a program adds to a lowering (quantize/lower.py _Lowering)."""

    program: TrainingProgram
    blob_op: dict[int, int]                   # TFLite operator -> blob op
    steps: list[_StepTensors] = field(default_factory=list)
    logits_error: int = 0
    lifetimes: dict[int, tuple[int, int]] = field(default_factory=dict)  # blob tensor -> (first, last)
    kept: dict[int, int] = field(default_factory=dict)  # blob tensor read after the forward pass -> last time
    logits: int = 0                                     # blob tensor of the logits

    @classmethod
    def add_tensors(cls, program: TrainingProgram, graph, builder, blob_index: dict[int, int],
                    blob_op: dict[int, int]) -> "TrainingLayout":
        """Creates the error, mask and scratch tensors (arena, int8) in `builder`."""
        layout = cls(program, blob_op)
        num_ops = len(builder.ops)
        loss_time = num_ops

        def arena_tensor(nbytes_or_shape, first: int, last: int) -> int:
            dims = nbytes_or_shape if isinstance(nbytes_or_shape, tuple) else (1, 1, 1, nbytes_or_shape)
            index = builder.add_activation(tuple([1] * (4 - len(dims)) + list(dims)), 0)
            layout.lifetimes[index] = (first, last)
            return index

        logits_shape = graph.tensor(program.logits).shape
        error = arena_tensor(tuple(logits_shape), loss_time, loss_time + 1)
        layout.logits_error = error
        for i, step in enumerate(program.steps):
            time = loss_time + 1 + i
            op = graph.operators[step.op]
            x, y = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
            tensors = _StepTensors(error)
            first, last = layout.lifetimes[error]
            layout.lifetimes[error] = (first, max(last, time))
            if step.mask:
                tensors.mask = arena_tensor(mask_bytes(int(np.prod(y.shape))), blob_op[step.op], time)
            if step.input_error:
                if step.kind == "RESHAPE":
                    tensors.in_error = error  # the same bytes, read by the next step
                else:
                    tensors.in_error = arena_tensor(tuple(x.shape), time, time + 1)
                layout.lifetimes[tensors.in_error] = (layout.lifetimes[tensors.in_error][0], time + 1)
            if step.kind in PARAMETRIC and (step.input_error or step.weights):
                filter_row = int(np.prod(graph.tensor(op.inputs[1]).shape[1:]))
                nbytes = conv_scratch_bytes(int(np.prod(x.shape)), int(np.prod(y.shape)), filter_row,
                                            step.input_error, step.weights)
                tensors.scratch = arena_tensor(nbytes, time, time)
            if step.weights:
                layout.kept[blob_index[op.inputs[0]]] = time
            layout.steps.append(tensors)
            error = tensors.in_error if tensors.in_error is not None else error
        layout.logits = blob_index[program.logits]
        layout.kept[layout.logits] = max(layout.kept.get(layout.logits, loss_time), loss_time)
        return layout

    def extend_lifetimes(self, find, first: dict, last: dict) -> None:
        """Sets the training tensors' lifetimes and lengthens the kept inputs' (by arena root)."""
        for tensor, (start, end) in self.lifetimes.items():
            root = find(tensor)
            first[root] = min(first.get(root, start), start)
            last[root] = max(last.get(root, end), end)
        for tensor, time in self.kept.items():
            root = find(tensor)
            last[root] = max(last.get(root, time), time)

    def emit(self, graph, builder) -> None:
        """Writes the training section into the data section and points the header at it."""
        p = self.program
        section = bytearray(TRAIN_HEADER.pack(len(p.steps), self.logits_error, p.softmax.input_multiplier,
                                              p.softmax.input_left_shift, p.softmax.diff_min,
                                              HEADER_QAS if p.qas else 0, self.logits, 0))
        records = []
        for step, tensors in zip(p.steps, self.steps):
            flags = ((STEP_WEIGHTS if step.weights else 0) | (STEP_BIAS if step.bias else 0)
                     | (STEP_INPUT_ERROR if step.input_error else 0) | (STEP_MASK if step.mask else 0))
            channels = qw = qb = bm = 0
            if step.channels:
                channels = builder.add_data(np.asarray(step.channels, dtype="<u2").tobytes())
            if step.kind in PARAMETRIC:
                qw = builder.add_data(np.asarray(step.qas_weight, dtype="<f4").tobytes())
                qb = builder.add_data(np.asarray(step.qas_bias, dtype="<f4").tobytes())
                bm = builder.add_data(np.asarray(step.back_multiplier, dtype="<i4").tobytes())
            records.append(TRAIN_STEP.pack(
                self.blob_op[step.op], flags, tensors.out_error, _index(tensors.in_error), _index(tensors.mask),
                _index(tensors.scratch), len(step.channels), 0, channels, qw, qb, bm, step.back_exponent,
                step.mean_reciprocal))
        for record in records:
            section.extend(record)
        builder.training = (builder.add_data(bytes(section)), len(section))


def _index(tensor: int | None) -> int:
    return NO_TENSOR if tensor is None else tensor
