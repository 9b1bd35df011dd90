"""Lowering a parsed int8 graph to the firmware's model blob.

The graph comes from parse_tflite (quantize/tflite_model.py), which has already refused anything
the firmware does not implement, so nothing here validates. Each op's integer parameters come from
quantize/prepare.py, the same TFLite Prepare arithmetic the golden reference runs with; this module
only lays them out as the firmware's parameter blocks (quantize/blob.py), adds the constants,
optionally fuses inverted-residual blocks (quantize/blocks.py) and plans the activation arena.
"""

from __future__ import annotations

import struct
from dataclasses import astuple, dataclass, field

import numpy as np

from quantize import blob as fmt
from quantize import packing, prepare
from quantize.blocks import Block, find_blocks
from quantize.memory_plan import Buffer, MemoryPlan, plan_memory
from quantize.scratch import op_scratch_bytes
from quantize.tflite_model import Graph, Operator, parse_tflite
from quantize.errors import PlanError
from quantize.training.lowering import TrainingLayout
from quantize.training.program import TrainingProgram, derive_program
from quantize.training_plan import TrainingPlan, check_plan, head_plan


@dataclass
class LoweredModel:
    blob: bytes
    plan: MemoryPlan
    op_names: list[str]          # TFLite op name of each blob op, in order
    macs: list[int]              # multiply-accumulates of each blob op
    input_scale: float
    input_zero_point: int
    output_scale: float
    output_zero_point: int
    tensor_names: list[str] = field(default_factory=list)
    packed_ops: set[int] = field(default_factory=set)  # TFLite operators whose filters are packed
    # The trainable region's layout: (TFLite tensor index, offset in the region, bytes) per tensor.
    trainable_layout: list[tuple[int, int, int]] = field(default_factory=list)


# Activation SRAM a model may plan before its inverted-residual blocks are row-streamed
# (firmware/lib/model/fused_block.h); the target for mbv2-w0.35-128 inference.
ACTIVATION_BUDGET = 128 * 1024
STREAM_POLICIES = ("auto", "all", "none")
# Flash the packed filters (quantize/packing.py) may add over their int8 size: mbv2-w0.35-128
# packed whole would not fit the STM32F746's 1 MB. Within it, the layers with the most output
# pixels are packed first: the device would widen their weights again for the most tiles.
PACKING_BUDGET = 256 * 1024


@dataclass
class _ConvParts:
    params: bytes
    filter: int
    bias: int | None
    macs: int


def _dims4(shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """The blob's 4-D dims of a tensor of rank <= 4 (parse_tflite refuses higher ranks)."""
    return tuple([1] * (4 - len(shape)) + list(shape))


def _bias(op: Operator) -> int | None:
    """The bias tensor of a CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED, None when omitted."""
    return op.inputs[2] if len(op.inputs) > 2 and op.inputs[2] >= 0 else None


def _pack(layout: struct.Struct, params) -> bytes:
    """A prepare.py parameter set as the blob's block; for the ops whose firmware struct holds
    exactly the dataclass's fields in order (ADD, pools, MEAN, REQUANTIZE, SOFTMAX)."""
    return layout.pack(*astuple(params))


def choose_packed(graph: Graph, plan: TrainingPlan, program: TrainingProgram | None = None) -> set[int]:
    """The CONV_2D operators whose filters are packed: those the device takes packed, not planned
    trainable nor crossed by the training error (the backward kernels read int8 filters), the most
    output pixels first, within PACKING_BUDGET."""
    backward = {step.op for step in program.steps} if program else set()
    candidates = []
    for op in graph.operators:
        planned = plan.layer(op.index)
        if op.op != "CONV_2D" or (planned and planned.weights) or op.index in backward:
            continue
        p = prepare.conv(graph, op)
        w, bias = graph.tensor(op.inputs[1]), _bias(op)
        bias_data = graph.tensor(bias).data if bias is not None else None
        if packing.takes_packed(w.shape, bias_data, (p.stride_h, p.stride_w), (p.pad_top, p.pad_left)):
            extra = packing.packed_pairs_bytes(w.shape[0], w.shape[-1]) - w.data.nbytes
            pixels = int(np.prod(graph.tensor(op.outputs[0]).shape[:-1]))
            candidates.append((-pixels, op.index, extra))
    chosen, used = set(), 0
    for _, index, extra in sorted(candidates):
        if used + extra <= PACKING_BUDGET:
            chosen.add(index)
            used += extra
    return chosen


class _Lowering:
    def __init__(self, graph: Graph, name: str, plan: TrainingPlan, packed_ops: set[int], fuse: int = 0,
                 program: TrainingProgram | None = None):
        self.graph = graph
        self.plan = plan
        self.program = program  # the training step's backward program (quantize/training/program.py)
        self.blob_op: dict[int, int] = {}      # TFLite operator -> blob op
        self.training: TrainingLayout | None = None
        self.packed_ops = packed_ops  # TFLite operators whose filters are packed (choose_packed)
        self.builder = fmt.BlobBuilder(name)
        self.blob_index: dict[int, int] = {}   # TFLite tensor index -> blob tensor index
        self.aliases: dict[int, int] = {}      # RESHAPE output -> the tensor whose bytes it shares
        self.op_names: list[str] = []
        self.macs: list[int] = []
        self.fuse = fuse  # how many of the graph's inverted-residual blocks, from the first, run fused
        self.scratch: list[tuple[int, int, int]] = []  # (blob op, params offset of the field, bytes)
        self.const_source: dict[int, int] = {}  # blob constant -> TFLite tensor

    # tensors
    def activation(self, index: int) -> int:
        """The blob tensor of an int8 activation, created on first use."""
        if index not in self.blob_index:
            t = self.graph.tensor(index)
            self.blob_index[index] = self.builder.add_activation(_dims4(t.shape), t.zero_point)
        return self.blob_index[index]

    def const(self, index: int, dims: tuple[int, int, int, int], trainable: bool = False) -> int:
        blob_index = self.builder.add_const(np.ascontiguousarray(self.graph.tensor(index).data), dims,
                                            trainable=trainable)
        self.const_source[blob_index] = index
        return blob_index

    def channel_arrays(self, multipliers: np.ndarray, shifts: np.ndarray) -> tuple[int, int]:
        m = self.builder.add_data(np.asarray(multipliers, dtype="<i4").tobytes())
        s = self.builder.add_data(np.asarray(shifts, dtype="<i4").tobytes())
        return m, s

    # ops
    def run(self) -> LoweredModel:
        g = self.graph
        # A float model's QUANTIZE of its input and DEQUANTIZE of its output are left to the host
        # (mcutrain_datasets.preprocess quantizes the input; logits are read as int8): the
        # device's input and output are the int8 tensors inside them.
        model_input, model_output = g.int8_input, g.int8_output
        blocks = find_blocks(g)[:self.fuse]
        block_at = {b.members[-1]: b for b in blocks}  # emitted where its last member was
        fused_members = {i for b in blocks for i in b.members}
        check_plan(self.plan, g, fused_members)
        crossed = sorted({s.op for s in self.program.steps} & fused_members) if self.program else []
        if crossed:
            raise PlanError(f"{self.plan.source}: the training error crosses operator {crossed[0]}, inside a "
                            f"row-streamed inverted-residual block, which has no backward pass")
        for op in g.operators:
            if op.index in block_at:
                self._fused_block(block_at[op.index])
                self.op_names.append("INVERTED_RESIDUAL")
                continue
            if op.index in fused_members:
                continue
            if (op.op == "QUANTIZE" and op.outputs[0] == model_input) or op.op == "DEQUANTIZE":
                continue
            getattr(self, f"_op_{op.op.lower()}")(op)
            self.op_names.append(op.op)
            self.blob_op[op.index] = len(self.builder.ops) - 1

        self.builder.input_tensor = self.activation(model_input)
        self.builder.output_tensor = self.activation(model_output)
        if self.program is not None:
            self.training = TrainingLayout.add_tensors(self.program, g, self.builder, self.blob_index, self.blob_op)
        plan = self._plan()
        if self.training is not None:
            self.training.emit(g, self.builder)
        x, y = g.tensor(model_input), g.tensor(model_output)
        blob = self.builder.build()
        start = fmt.read_header(blob)["trainable_offset"]
        layout = [(self.const_source[t], self.builder.tensors[t].offset - start, len(payload))
                  for t, payload in self.builder.trainable_data]
        return LoweredModel(blob, plan, self.op_names, self.macs, x.scale, x.zero_point, y.scale,
                            y.zero_point, packed_ops=self.packed_ops, trainable_layout=layout)

    def _fused_block(self, block: Block) -> None:
        g, ops = self.graph, self.graph.operators
        expand = self._conv_parts(ops[block.expand], depthwise=False) if block.expand is not None else None
        dw = self._conv_parts(ops[block.depthwise], depthwise=True)
        project = self._conv_parts(ops[block.project], depthwise=False)
        no_params = fmt.CONV_PARAMS.pack(*([0] * 12))
        residual, add_params = 0, fmt.ADD_PARAMS.pack(*([0] * 12))
        if block.add is not None:
            residual = 1 if ops[block.add].inputs[0] == block.input else 2
            add_params = _pack(fmt.ADD_PARAMS, prepare.add(g, ops[block.add]))
        none = fmt.NO_TENSOR
        width = _dims4(g.tensor(block.input).shape)[2]
        dw_in = _dims4(g.tensor(ops[block.depthwise].inputs[0]).shape)
        dw_out = _dims4(g.tensor(ops[block.depthwise].outputs[0]).shape)
        kh = g.tensor(ops[block.depthwise].inputs[1]).shape[1]
        expanded_c = dw_in[3]
        params = (
            (expand.params if expand else no_params) + dw.params + project.params + add_params
            + fmt.FUSED_TAIL.pack(
                expand.filter if expand else none,
                expand.bias if expand and expand.bias is not None else none,
                dw.filter, dw.bias if dw.bias is not None else none,
                project.filter, project.bias if project.bias is not None else none,
                1 if expand else 0, residual, 0, 0)
        )
        op_index = self.builder.add_op(fmt.OpCode.INVERTED_RESIDUAL, [self.activation(block.input)],
                                       self.activation(block.output), params)
        tail = self.builder.ops[op_index].params_offset + len(params) - 8
        if expand is not None:
            self.scratch.append((op_index, tail, kh * width * expanded_c))  # window of expanded rows
        self.scratch.append((op_index, tail + 4, dw_out[2] * expanded_c))  # one depthwise row
        self.macs.append((expand.macs if expand else 0) + dw.macs + project.macs)

    def _conv_like(self, op: Operator, depthwise: bool) -> None:
        parts = self._conv_parts(op, depthwise)
        opcode = fmt.OpCode.DEPTHWISE_CONV_2D if depthwise else fmt.OpCode.CONV_2D
        self.builder.add_op(opcode, [self.activation(op.inputs[0]), parts.filter, parts.bias],
                            self.activation(op.outputs[0]), parts.params)
        self.macs.append(parts.macs)

    def _conv_parts(self, op: Operator, depthwise: bool) -> _ConvParts:
        """A CONV_2D / DEPTHWISE_CONV_2D's parameter block and constants."""
        p = prepare.conv(self.graph, op)
        x, w, y = (self.graph.tensor(i) for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
        bias = _bias(op)
        n, _, _, c_in = _dims4(x.shape)
        _, oh, ow, c_out = _dims4(y.shape)
        kh, kw = w.shape[1], w.shape[2]
        m_off, s_off = self.channel_arrays(p.multipliers, p.shifts)
        params = fmt.CONV_PARAMS.pack(p.stride_h, p.stride_w, p.pad_top, p.pad_left, 1, 1,  # dilation: 1 only
                                      p.input_offset, p.output_offset, p.act_min, p.act_max, m_off, s_off)
        bias_data = self.graph.tensor(bias).data if bias is not None else None
        planned = self.plan.layer(op.index)
        train_weights, train_bias = (planned.weights, planned.bias) if planned else (False, False)
        if op.index in self.packed_ops:
            exponents = packing.relu_scale_exponents(p.shifts, p.multipliers, p.output_offset, p.act_min,
                                                     p.act_max, c_in, bias_data)
            dtype = fmt.TensorType.PACKED_PAIRS if exponents is None else fmt.TensorType.PACKED_PAIRS_SCALED
            packed = packing.pack_pairs(w.data, p.shifts, p.multipliers, p.output_offset, p.act_min, p.act_max,
                                        bias_data, exponents)
            filter_index = self.builder.add_const(packed, w.shape, dtype=dtype)
        else:
            filter_index = self.const(w.index, w.shape, trainable=train_weights)
        return _ConvParts(
            params=params,
            filter=filter_index,
            bias=self.const(bias, (1, 1, 1, c_out), trainable=train_bias) if bias is not None else None,
            macs=n * oh * ow * c_out * kh * kw * (1 if depthwise else c_in),
        )

    def _op_conv_2d(self, op: Operator) -> None:
        self._conv_like(op, depthwise=False)

    def _op_depthwise_conv_2d(self, op: Operator) -> None:
        self._conv_like(op, depthwise=True)

    def _op_fully_connected(self, op: Operator) -> None:
        p = prepare.fully_connected(self.graph, op)
        x, w, y = op.inputs[0], op.inputs[1], op.outputs[0]
        bias = _bias(op)
        units, depth = self.graph.tensor(w).shape
        m_off, s_off = self.channel_arrays(p.multipliers, p.shifts)
        params = fmt.FC_PARAMS.pack(p.input_offset, p.filter_offset, p.output_offset, p.act_min, p.act_max,
                                    m_off, s_off)
        planned = self.plan.layer(op.index)
        inputs = [self.activation(x), self.const(w, (1, 1, units, depth), trainable=bool(planned and planned.weights)),
                  self.const(bias, (1, 1, 1, units), trainable=bool(planned and planned.bias))
                  if bias is not None else None]
        self.builder.add_op(fmt.OpCode.FULLY_CONNECTED, inputs, self.activation(y), params)
        self.macs.append(int(np.prod(self.graph.tensor(x).shape)) // depth * units * depth)

    def _op_add(self, op: Operator) -> None:
        a, b, y = op.inputs[0], op.inputs[1], op.outputs[0]
        self.builder.add_op(fmt.OpCode.ADD, [self.activation(a), self.activation(b)], self.activation(y),
                            _pack(fmt.ADD_PARAMS, prepare.add(self.graph, op)))
        self.macs.append(0)

    def _single_input(self, op: Operator, opcode: fmt.OpCode, params: bytes = b"") -> None:
        """Emits an op that reads one activation and does no multiply-accumulates."""
        self.builder.add_op(opcode, [self.activation(op.inputs[0])], self.activation(op.outputs[0]), params)
        self.macs.append(0)

    def _op_average_pool_2d(self, op: Operator) -> None:
        self._single_input(op, fmt.OpCode.AVERAGE_POOL_2D, _pack(fmt.POOL_PARAMS, prepare.pool(self.graph, op)))

    def _op_max_pool_2d(self, op: Operator) -> None:
        self._single_input(op, fmt.OpCode.MAX_POOL_2D, _pack(fmt.POOL_PARAMS, prepare.pool(self.graph, op)))

    def _op_mean(self, op: Operator) -> None:
        self._single_input(op, fmt.OpCode.MEAN, _pack(fmt.MEAN_PARAMS, prepare.mean(self.graph, op)))

    def _op_reshape(self, op: Operator) -> None:
        self.aliases[op.outputs[0]] = op.inputs[0]
        self._single_input(op, fmt.OpCode.RESHAPE)

    def _op_pad(self, op: Operator) -> None:
        # The firmware pads 4-D tensors: lower ranks get leading dimensions of (0, 0).
        paddings = op.options.paddings
        pads = [(0, 0)] * (4 - len(paddings)) + list(paddings)
        params = fmt.PAD_PARAMS.pack(*(before for before, _ in pads), *(after for _, after in pads),
                                     self.graph.tensor(op.outputs[0]).zero_point)
        self._single_input(op, fmt.OpCode.PAD, params)

    def _op_softmax(self, op: Operator) -> None:
        self._single_input(op, fmt.OpCode.SOFTMAX, _pack(fmt.SOFTMAX_PARAMS, prepare.softmax(self.graph, op)))

    def _op_quantize(self, op: Operator) -> None:
        # int8 -> int8 only (parse_tflite refuses the rest; the input's float QUANTIZE is skipped).
        self._single_input(op, fmt.OpCode.REQUANTIZE,
                           _pack(fmt.REQUANTIZE_PARAMS, prepare.requantize(self.graph, op)))

    # memory
    def _plan(self) -> MemoryPlan:
        """Lifetimes of the arena tensors (a RESHAPE's output shares its input's buffer, and so
        does an element-wise op's output where legal, see _in_place)."""
        num_ops = len(self.builder.ops)
        root = {}
        for out_index, in_index in self.aliases.items():
            root[self.blob_index[out_index]] = self.blob_index[in_index]

        def find(t: int) -> int:
            while t in root:
                t = root[t]
            return t

        first, last, size = {}, {}, {}
        for t, rec in enumerate(self.builder.tensors):
            if rec.location == fmt.Location.ARENA:
                r = find(t)
                size[r] = max(size.get(r, 0), rec.size)
        for i, op in enumerate(self.builder.ops):
            r = find(op.output)
            first[r] = min(first.get(r, i), i)
            last[r] = max(last.get(r, i), i)
            for t in op.inputs:
                if t is not None and self.builder.tensors[t].location == fmt.Location.ARENA:
                    r = find(t)
                    last[r] = max(last.get(r, i), i)
        graph_in, graph_out = find(self.builder.input_tensor), find(self.builder.output_tensor)
        first[graph_in] = -1
        last[graph_out] = num_ops
        if self.training is not None:
            self.training.extend_lifetimes(find, first, last)
        self._in_place(root, find, first, last, size, graph_in)
        buffers = [Buffer(f"t{r}", size[r], first.get(r, -1), last.get(r, num_ops)) for r in size]
        buffers += [Buffer(f"scratch{k}", nbytes, op, op) for k, (op, _, nbytes) in enumerate(self.scratch)]
        # The kernels' scratch of each op that needs some, alive while the op runs (blob.OP's scratch fields).
        kernel_scratch = {i: n for i, op in enumerate(self.builder.ops) if (n := op_scratch_bytes(self.builder, op))}
        buffers += [Buffer(f"kernel_scratch{i}", n, i, i) for i, n in kernel_scratch.items()]
        plan = plan_memory(buffers)
        for k, (_, field, _) in enumerate(self.scratch):
            struct.pack_into("<I", self.builder.data, field, plan.offsets[f"scratch{k}"])
        for i, n in kernel_scratch.items():
            self.builder.ops[i].scratch_offset, self.builder.ops[i].scratch_size = plan.offsets[f"kernel_scratch{i}"], n
        for t, rec in enumerate(self.builder.tensors):
            if rec.location == fmt.Location.ARENA:
                rec.offset = plan.offsets[f"t{find(t)}"]
        self.builder.arena_size = plan.arena_size
        return plan

    # Ops whose kernels compute each output element from the input elements at the same index only
    # and read them before writing it (add_s8, requantize_s8), so the output may overwrite an input.
    IN_PLACE_OPCODES = (fmt.OpCode.ADD, fmt.OpCode.REQUANTIZE)

    def _in_place(self, root: dict, find, first: dict, last: dict, size: dict, graph_in: int) -> None:
        """Plans an element-wise op's output into an input's buffer when that input is read by no
        later op (like TFLM's in-place ops): the two buffers become one, living from the input's
        first use to the output's last. The model's input keeps its own buffer."""
        for i, op in enumerate(self.builder.ops):
            if op.opcode not in self.IN_PLACE_OPCODES:
                continue
            out = find(op.output)
            for t in op.inputs:
                r = find(t) if t is not None else None
                if r is None or r == out or r == graph_in or last.get(r) != i or size.get(r) != size.get(out):
                    continue
                root[out] = r
                last[r] = last.pop(out, i)
                first.pop(out, None)
                size.pop(out)
                break


def lower_tflite(tflite: bytes, name: str, stream: str = "auto", budget: int = ACTIVATION_BUDGET,
                 plan: TrainingPlan | None = None) -> LoweredModel:
    """Parses and validates `tflite` (parse_tflite) and returns its blob; raises
    UnsupportedModelError naming the op at fault. See lower_graph."""
    return lower_graph(parse_tflite(tflite), name, stream, budget, plan)


def lower_graph(graph: Graph, name: str, stream: str = "auto", budget: int = ACTIVATION_BUDGET,
                plan: TrainingPlan | None = None) -> LoweredModel:
    """The blob of a graph parse_tflite returned, with `plan`'s parameters trainable (default:
    the classifier head, quantize/training_plan.py).

    stream: "none" runs every op on whole tensors; "all" row-streams every inverted-residual
    block; "auto" (default) row-streams the fewest leading blocks (the early, large ones) that
    bring the plan within `budget` bytes of arena, or all of them if none does, so small models
    keep one blob op per TFLite op and the blocks that fit whole run on whole tensors, which is
    faster (a fused block calls its kernels row by row).
    """
    if stream not in STREAM_POLICIES:
        raise ValueError(f"stream policy {stream!r}, expected one of {', '.join(STREAM_POLICIES)}")
    blocks = len(find_blocks(graph))
    plan = plan if plan is not None else head_plan(graph)
    # What the model lacks first, then what row-streaming every block would forbid: both say more
    # than the backward program's refusal would (the auto policy checks its own blocks per lowering).
    check_plan(plan, graph, {i for b in find_blocks(graph) for i in b.members} if stream == "all" else set())
    program = derive_program(graph, plan, qas=plan.qas)
    packed = choose_packed(graph, plan, program)
    if stream != "auto":
        return _Lowering(graph, name, plan, packed, fuse=blocks if stream == "all" else 0, program=program).run()
    for fused in range(blocks + 1):
        lowered = _Lowering(graph, name, plan, packed, fuse=fused, program=program).run()
        if lowered.plan.arena_size <= budget:
            return lowered
    return lowered
