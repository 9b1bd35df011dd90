"""The blob's training section: a TrainingProgram (program.py) laid out for the firmware's trainer
(firmware/lib/train/training_format.h mirrors these structs field by field), and the arena
buffers a training step adds to the memory plan: error tensors (one per error slot; a RESHAPE's
input error and an ADD's first input error share the bytes of the op's output error, and so does
an element-wise derivative op's, written over them), the slots' exponents, activation masks,
kernel scratch, the longer lives of the inputs that weight gradients, MAX_POOL_2D and the
element-wise derivatives read, and the patch means a gradient-filtered layer keeps instead of its
input.

Backward time: the forward ops run at times 0..num_ops-1, the loss at num_ops, backward step i
at num_ops + 1 + i. Each buffer lives from the time it is written to the time it is last read.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from quantize.training.program import ACCUMULATE, DERIVATIVE_OPS, TrainingProgram

TRAIN_HEADER = struct.Struct("<HHiiiHHIHH")  # TrainHeader
TRAIN_STEP = struct.Struct("<8H4I2i4H")       # TrainStep
MUL_BACKWARD = struct.Struct("<4i")            # MulBackward: (multiplier, exponent) per input error
assert (TRAIN_HEADER.size, TRAIN_STEP.size, MUL_BACKWARD.size) == (28, 48, 16)
NO_TENSOR = 0xFFFF

STEP_WEIGHTS, STEP_BIAS, STEP_INPUT_ERROR, STEP_MASK, STEP_INPUT_ERROR2, STEP_ACCUMULATE = 1, 2, 4, 8, 16, 32
HEADER_QAS = 1
# Ops whose backward step needs scratch (conv_scratch_bytes; depthwise gathers its input error and
# sums each weight's gradient without any).
SCRATCH_OPS = ("CONV_2D", "FULLY_CONNECTED")
# Ops whose first needed input error is the output error's bytes, unchanged.
SHARED_ERROR_OPS = ("RESHAPE", "ADD")
# Element-wise ops whose input error the device writes over the output error's bytes (each element
# read before it is written): they share one arena tensor.
IN_PLACE_ERROR_OPS = DERIVATIVE_OPS


def mask_bytes(elements: int) -> int:
    return (elements + 7) // 8


def _pair_rows_words(rows: int, depth: int) -> int:
    return (rows + 1) // 2 * ((depth + 3) // 4) * 4


def conv_scratch_bytes(input_elements: int, output_elements: int, filter_row: int, input_error: bool,
                       weights: bool, pointwise: tuple[int, int, int] | None = None) -> int:
    """A CONV_2D / FULLY_CONNECTED backward step's scratch (backward_s8.cpp conv_scratch_bytes): the
    input error's int32 accumulators over the input and int16 channel-scaled errors over the
    output, or one output channel's int32 weight gradient (filter_row = KH * KW * C_in), the larger.
    A pointwise step (1x1, stride 1, no padding, or FC; pointwise = (positions, C_in, C_out)) packs
    its operands as int16 pair rows for the DSP instead (backward_s8.cpp pointwise_*_scratch_bytes)."""
    error, gradient = 4 * input_elements + 2 * output_elements, 4 * filter_row
    if pointwise is not None:
        positions, c_in, c_out = pointwise
        if positions > 1:  # a single position (FULLY_CONNECTED) keeps the row loops' scratch
            error = 4 * (_pair_rows_words(positions, c_out) + _pair_rows_words(2, c_out)
                         + 4 * ((positions + 1) // 2) * ((c_in + 1) // 2))
            gradient = 4 * (_pair_rows_words(c_in, positions) + _pair_rows_words(2, positions)
                            + 4 * ((c_in + 1) // 2))
    return max(error if input_error else 0, gradient if weights else 0)


def _pointwise(op, x_shape, y_shape, filter_shape) -> tuple[int, int, int] | None:
    """(positions, C_in, C_out) when the step runs backward_s8.cpp's pointwise kernels, else None."""
    if op.op == "FULLY_CONNECTED":
        return 1, filter_shape[-1], filter_shape[0]
    o = op.options
    same_size = tuple(x_shape[1:3]) == tuple(y_shape[1:3])
    if tuple(filter_shape[1:3]) == (1, 1) and (o.stride_h, o.stride_w) == (1, 1) and same_size:
        return int(np.prod(y_shape[:-1])), x_shape[-1], y_shape[-1]
    return None


@dataclass
class _StepTensors:
    mask: int | None = None
    scratch: int | None = None
    patches: int | None = None  # the input's r x r patch means (gradient filtering)


@dataclass
class TrainingLayout:
    """The blob tensors and lifetimes a program adds to a lowering (quantize/lower.py _Lowering)."""

    program: TrainingProgram
    blob_op: dict[int, int]                   # TFLite operator -> blob op
    steps: list[_StepTensors] = field(default_factory=list)
    error_slots: list[int] = field(default_factory=list)  # blob tensor of each error slot
    exponents: int = 0                        # blob tensor: int32 [slots]
    lifetimes: dict[int, tuple[int, int]] = field(default_factory=dict)  # blob tensor -> (first, last)
    kept: dict[int, int] = field(default_factory=dict)  # blob tensor read after the forward pass -> last time
    logits: int = 0                                     # blob tensor of the logits

    @classmethod
    def add_tensors(cls, program: TrainingProgram, graph, builder, blob_index: dict[int, int],
                    blob_op: dict[int, int]) -> "TrainingLayout":
        """Creates the error, exponent, mask and scratch tensors (arena, int8) in `builder`."""
        layout = cls(program, blob_op)
        num_ops = len(builder.ops)
        loss_time = num_ops
        last_time = loss_time + len(program.steps)

        def arena_tensor(nbytes_or_shape, first: int, last: int) -> int:
            # A plain byte buffer (mask, scratch) as rows of 16 bytes: a tensor record's dims are 16-bit,
            # and the planner aligns every buffer to 16 bytes anyway (the firmware checks "at least").
            dims = nbytes_or_shape if isinstance(nbytes_or_shape, tuple) else (1, 1, -(-nbytes_or_shape // 16), 16)
            index = builder.add_activation(tuple([1] * (4 - len(dims)) + list(dims)), 0)
            layout.lifetimes[index] = (first, last)
            return index

        def use(tensor: int, time: int) -> None:
            first, last = layout.lifetimes[tensor]
            layout.lifetimes[tensor] = (min(first, time), max(last, time))

        slots: list[int | None] = [None] * len(program.error_tensors)
        slots[0] = arena_tensor(tuple(graph.tensor(program.logits).shape), loss_time, loss_time)
        for i, step in enumerate(program.steps):
            time = loss_time + 1 + i
            tensors = _StepTensors()
            use(slots[step.out_error], time)
            if step.kind == ACCUMULATE:
                use(slots[step.in_errors[0]], time)
                layout.steps.append(tensors)
                continue
            op = graph.operators[step.op]
            y = graph.tensor(op.outputs[0])
            shared = step.kind in SHARED_ERROR_OPS or step.kind in IN_PLACE_ERROR_OPS
            for slot in step.in_errors:
                if slot is None:
                    continue
                if shared:  # the same bytes, read by a later step
                    slots[slot] = slots[step.out_error]
                    shared = False
                else:
                    slots[slot] = arena_tensor(tuple(graph.tensor(program.error_tensors[slot]).shape), time, time)
                use(slots[slot], time)
            if step.mask:
                tensors.mask = arena_tensor(mask_bytes(int(np.prod(y.shape))), blob_op[step.op], time)
            if step.kind in SCRATCH_OPS and (step.input_error or step.weights):
                x = graph.tensor(op.inputs[0])
                filter_row = int(np.prod(graph.tensor(op.inputs[1]).shape[1:]))
                nbytes = conv_scratch_bytes(int(np.prod(x.shape)), int(np.prod(y.shape)), filter_row,
                                            step.input_error, step.weights,
                                            _pointwise(op, x.shape, y.shape, graph.tensor(op.inputs[1]).shape))
                tensors.scratch = arena_tensor(nbytes, time, time)
            if step.weights and step.gradient_filter > 1:  # written before the op runs, read now
                n, height, width, c = graph.tensor(op.inputs[0]).shape
                r = step.gradient_filter
                tensors.patches = arena_tensor((n, -(-height // r), -(-width // r), c), blob_op[step.op], time)
            else:
                # the inputs read now (weight gradients; MAX_POOL_2D finds each window's maximum
                # again; an element-wise op's derivative; MUL's error at one input is the other's
                # value): no later forward op (an in-place ADD, the op itself run in place) writes
                # over them
                for tensor in _read_inputs(step, op, graph):
                    kept = blob_index[tensor]
                    layout.kept[kept] = max(layout.kept.get(kept, time), time)
            layout.steps.append(tensors)
        layout.error_slots = slots
        layout.exponents = arena_tensor(4 * len(slots), loss_time, last_time)
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
        errors = builder.add_data(np.asarray(self.error_slots, dtype="<u2").tobytes())
        section = bytearray(TRAIN_HEADER.pack(len(p.steps), len(self.error_slots), p.softmax.input_multiplier,
                                              p.softmax.input_left_shift, p.softmax.diff_min,
                                              HEADER_QAS if p.qas else 0, self.logits, errors, self.exponents, 0))
        for step, tensors in zip(p.steps, self.steps):
            in_errors = list(step.in_errors) + [None] * (2 - len(step.in_errors))
            flags = ((STEP_WEIGHTS if step.weights else 0) | (STEP_BIAS if step.bias else 0)
                     | (STEP_INPUT_ERROR if in_errors[0] is not None else 0) | (STEP_MASK if step.mask else 0)
                     | (STEP_INPUT_ERROR2 if in_errors[1] is not None else 0)
                     | (STEP_ACCUMULATE if step.kind == ACCUMULATE else 0))
            channels = qw = qb = bm = 0
            if step.channels:
                channels = builder.add_data(np.asarray(step.channels, dtype="<u2").tobytes())
            if step.back_multiplier is not None:
                qw = builder.add_data(np.asarray(step.qas_weight, dtype="<f4").tobytes())
                qb = builder.add_data(np.asarray(step.qas_bias, dtype="<f4").tobytes())
                bm = builder.add_data(np.asarray(step.back_multiplier, dtype="<i4").tobytes())
            if step.derivative is not None:  # in back_multiplier_offset (training_format.h)
                bm = builder.add_data(np.asarray(step.derivative, dtype="<i4").tobytes())
            if step.operand_factors is not None:  # MUL
                bm = builder.add_data(MUL_BACKWARD.pack(*step.operand_factors))
            section.extend(TRAIN_STEP.pack(
                self.blob_op[step.op], flags, step.out_error, _index(in_errors[0]), _index(tensors.mask),
                _index(tensors.scratch), len(step.channels), _index(in_errors[1]), channels, qw, qb, bm,
                step.back_exponent, step.mean_reciprocal, _index(tensors.patches), step.gradient_filter, step.input, 0))
        builder.training = (builder.add_data(bytes(section)), len(section))


def _read_inputs(step, op, graph) -> tuple[int, ...]:
    """The activation inputs a backward step reads (beyond errors and masks)."""
    if step.kept_input:  # a weight gradient, MAX_POOL_2D's maxima, an element-wise op's derivative
        return (op.inputs[0],)
    if step.kind == "MUL":  # each needed input error reads the other operand (a constant is in flash)
        others = (op.inputs[1 - position] for position, slot in enumerate(step.in_errors) if slot is not None)
        return tuple(t for t in others if graph.tensor(t).data is None)
    return ()


def _index(tensor: int | None) -> int:
    return NO_TENSOR if tensor is None else tensor
