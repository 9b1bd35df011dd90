"""Lowering a parsed int8 graph to the firmware's model blob.

The graph comes from parse_tflite (quantize/tflite_model.py), which has already refused anything
the firmware does not implement, so nothing here validates. Each op lowers itself (its module in
quantize/ops/, found through the registry): its integer parameters come from the same Prepare the
golden reference runs with, laid out as the firmware's parameter block. This module walks the graph,
holds the blob being built, optionally row-streams chains of convolutions (quantize/row_chain.py)
and inverted-residual blocks (quantize/blocks.py, quantize/fused_block.py), chooses the filters to
pack and plans the activation arena.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from quantize import blob as fmt
from quantize.blob_format import dims4
from quantize.blocks import Block, find_blocks
from quantize.fused_block import lower_block
from quantize.errors import PlanError
from quantize.memory_model import predicted_peak_sram
from quantize.memory_plan import Buffer, MemoryPlan, plan_memory
from quantize.row_chain import BAND_LEVELS, BANDS_ALL, Chain, find_chains, lower_chain
from quantize.scratch import op_scratch_bytes
from quantize.training.lowering import TrainingLayout
from quantize.training.program import TrainingProgram, derive_program
from quantize.ops import in_place_opcodes, op_def
from quantize.tflite_model import Graph, parse_tflite
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


# The SRAM a training step may take (the memory model's predicted peak: firmware, stack, arena and
# trainable copy, quantize/memory_model.py) before the auto policy row-streams the leading chains
# and blocks (firmware/lib/model/row_chain.h, fused_block.h); the target for mbv2-w0.35-128.
STEP_SRAM_BUDGET = 128 * 1024
# The board whose firmware figures the budget is checked with (the emulated boards' are equal).
BUDGET_BOARD = "qemu-m7"
STREAM_POLICIES = ("auto", "all", "none")
# Flash the packed filters (quantize/packing.py) may add over their int8 size: mbv2-w0.35-128
# packed whole would not fit the STM32F746's 1 MB. Within it, the layers with the most output
# pixels are packed first: the device would widen their weights again for the most tiles.
PACKING_BUDGET = 256 * 1024


def choose_packed(graph: Graph, plan: TrainingPlan, program: TrainingProgram | None = None) -> set[int]:
    """The operators whose filters are packed: those the device takes packed (a pointwise CONV_2D,
    see its op's packed_filter_extra), not planned trainable nor crossed by the training error (the
    backward kernels read int8 filters, and a packed filter holds its bias), the most output pixels
    first, within PACKING_BUDGET."""
    backward = {step.op for step in program.steps} if program else set()
    candidates = []
    for op in graph.operators:
        planned = plan.layer(op.index)
        extra_of = op_def(op.op).packed_filter_extra
        if extra_of is None or (planned and planned.weights) or op.index in backward:
            continue
        extra = extra_of(graph, op)
        if extra is not None:
            pixels = int(np.prod(graph.tensor(op.outputs[0]).shape[:-1]))
            candidates.append((-pixels, op.index, extra))
    chosen, used = set(), 0
    for _, index, extra in sorted(candidates):
        if used + extra <= PACKING_BUDGET:
            chosen.add(index)
            used += extra
    return chosen


class _Lowering:
    """The lowering of one graph into one blob: the blob being built, the map from TFLite tensors to
    blob tensors, and what the memory plan needs (aliases, scratch buffers). Each op writes itself
    through the methods below, its LoweringContext (quantize/ops/base.py)."""

    def __init__(self, graph: Graph, name: str, plan: TrainingPlan, packed_ops: set[int], fuse: int = 0,
                 program: TrainingProgram | None = None, bands: int = BANDS_ALL):
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
        self.fuse = fuse  # how many of the graph's streaming units (streaming_units), from the first, run fused
        self.bands = bands  # how far the row chains' bands are widened (quantize/row_chain.py chain_bands)
        self.scratch: list[tuple[int, int, int]] = []  # (blob op, params offset of the field, bytes)
        self.const_source: dict[int, int] = {}  # blob constant -> TFLite tensor

    # what an op's lowering uses (quantize/ops/base.py's LoweringContext)
    def activation(self, index: int) -> int:
        """The blob tensor of an int8 activation, created on first use."""
        if index not in self.blob_index:
            t = self.graph.tensor(index)
            self.blob_index[index] = self.builder.add_activation(dims4(t.shape), t.zero_point)
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

    def emit(self, opcode: fmt.OpCode, inputs: list[int | None], output: int, params: bytes, macs: int) -> int:
        self.macs.append(macs)
        return self.builder.add_op(opcode, inputs, output, params)

    def alias(self, output: int, source: int) -> None:
        self.aliases[output] = source

    def scratch_buffer(self, op: int, field: int, nbytes: int) -> None:
        self.scratch.append((op, field, nbytes))

    # the graph
    def run(self) -> LoweredModel:
        g = self.graph
        # A float model's QUANTIZE of its input and DEQUANTIZE of its output are left to the host
        # (Graph.converts_at_edge): the device's input and output are the int8 tensors inside them.
        model_input, model_output = g.int8_input, g.int8_output
        units = streaming_units(g)[:self.fuse]
        unit_at = {u.members[-1]: u for u in units}  # emitted where its last member was
        fused_members = {i for u in units for i in u.members}
        check_plan(self.plan, g, fused_members)
        crossed = sorted({s.op for s in self.program.steps} & fused_members) if self.program else []
        if crossed:
            raise PlanError(f"{self.plan.source}: the training error crosses operator {crossed[0]}, inside a "
                            f"row-streamed inverted-residual block or chain, which has no backward pass")
        for op in g.operators:
            if op.index in unit_at and isinstance(unit_at[op.index], Chain):
                lower_chain(self, unit_at[op.index], self.bands)
                self.op_names.append("ROW_CHAIN")
            elif op.index in unit_at:
                lower_block(self, unit_at[op.index])
                self.op_names.append("INVERTED_RESIDUAL")
            elif op.index not in fused_members and not g.converts_at_edge(op):
                op_def(op.op).lower(self, op)
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
    # and read them before writing it (their OpDef's in_place), so the output may overwrite an input.
    IN_PLACE_OPCODES = in_place_opcodes()

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


def _training_program(graph: Graph, plan: TrainingPlan, given: bool) -> TrainingProgram | None:
    """The plan's backward program, or None (a blob without a training section: the device answers
    TRAIN with not_in_this_build) when the plan trains nothing, or when the default plan does not
    fit a model that is only meant for inference (a given plan that does not fit is an error)."""
    try:
        program = derive_program(graph, plan, qas=plan.qas)
    except PlanError:
        if given:
            raise
        return None
    return program if program.steps else None


def streaming_units(graph: Graph) -> list[Chain | Block]:
    """What the lowering may row-stream, in graph order: the chains of convolutions
    (quantize/row_chain.py) and the inverted-residual blocks no chain contains."""
    chains = find_chains(graph)
    chained = {i for c in chains for i in c.members}
    blocks = [b for b in find_blocks(graph) if not chained & set(b.members)]
    return sorted([*chains, *blocks], key=lambda unit: unit.members[0])


def lower_tflite(tflite: bytes, name: str, stream: str = "auto", budget: int | None = None,
                 plan: TrainingPlan | None = None) -> LoweredModel:
    """Parses and validates `tflite` (parse_tflite) and returns its blob; raises
    UnsupportedModelError naming the op at fault. See lower_graph."""
    return lower_graph(parse_tflite(tflite), name, stream, budget, plan)


def step_sram(lowered: LoweredModel, board: str = BUDGET_BOARD) -> int:
    """The memory model's peak SRAM of a training step with this blob on `board`."""
    header = fmt.read_header(lowered.blob)
    return predicted_peak_sram(board, header["arena_size"], header["trainable_size"])


def lower_graph(graph: Graph, name: str, stream: str = "auto", budget: int | None = None,
                plan: TrainingPlan | None = None, board: str = BUDGET_BOARD) -> LoweredModel:
    """The blob of a graph parse_tflite returned, with `plan`'s parameters trainable (default:
    the classifier head, quantize/training_plan.py).

    stream: "none" runs every op on whole tensors; "all" row-streams every chain and
    inverted-residual block (streaming_units); "auto" (default) row-streams the fewest leading
    units (the early, large ones) that bring the whole training step within `budget` bytes of SRAM
    on `board` (the memory model's predicted peak: firmware, stack, arena and trainable copy,
    step_sram; default: the plan's sram_budget, else STEP_SRAM_BUDGET), their
    chains with bands of several rows where the windows allow (quantize/row_chain.py chain_bands)
    or else of one row (when no number of units fits: the lowering that takes least), so small models keep one blob op per TFLite op and the
    units that fit whole run on whole tensors, which is faster (a streamed unit calls its kernels
    row by row).
    """
    if stream not in STREAM_POLICIES:
        raise ValueError(f"stream policy {stream!r}, expected one of {', '.join(STREAM_POLICIES)}")
    units = streaming_units(graph)
    given = plan is not None
    plan = plan if given else head_plan(graph)
    if budget is None:
        budget = plan.sram_budget or STEP_SRAM_BUDGET
    # What the model lacks first, then what row-streaming every unit would forbid: both say more
    # than the backward program's refusal would (the auto policy checks its own units per lowering).
    check_plan(plan, graph, {i for u in units for i in u.members} if stream == "all" else set())
    program = _training_program(graph, plan, given)
    packed = choose_packed(graph, plan, program)
    if stream != "auto":
        return _Lowering(graph, name, plan, packed, fuse=len(units) if stream == "all" else 0, program=program).run()
    lowered, smallest = None, None
    for fused in range(len(units) + 1):
        try:
            candidate = _Lowering(graph, name, plan, packed, fuse=fused, program=program).run()
        except PlanError:
            if lowered is None:
                raise
            break  # streaming this unit would cut through what the plan trains: stay over the budget
        lowered = candidate
        tried = [lowered]
        if step_sram(lowered, board) <= budget:
            return lowered
        if "ROW_CHAIN" in lowered.op_names:  # the chains' wider bands may be what does not fit
            for bands in BAND_LEVELS[1:]:
                narrower = _Lowering(graph, name, plan, packed, fuse=fused, program=program, bands=bands).run()
                if step_sram(narrower, board) <= budget:
                    return narrower
                tried.append(narrower)
        smallest = min([smallest, *tried] if smallest else tried, key=lambda low: step_sram(low, board))
    # Nothing fits: the lowering that takes least (streaming more is not always smaller: a
    # streamed unit's row buffers and scratch can outweigh the whole tensors it replaces).
    return smallest
