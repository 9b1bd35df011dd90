"""Row-streamed chains of convolutions (firmware/lib/model/row_chain.h): finding them in a parsed
graph, their parameter block (model::RowChainParams) and their lowering into one ROW_CHAIN blob op.

A chain is a run of CONV_2D and DEPTHWISE_CONV_2D operators each of whose outputs is read by the
next member only. mbv2-w0.35-128's stem, first block and second block (operators 0..5, from the
128x128x3 input to the first 32x32 tensor) form one: run as a chain, the stem's 64x64x16 output and
the blocks' 64x64 tensors never exist whole, only a window of the rows the next stage reads. The
members keep their own Prepare and parameter blocks (quantize/ops/conv_common.py); only the
intermediate tensors change.
"""

from __future__ import annotations

from dataclasses import dataclass

from quantize.blob_format import NO_TENSOR, OpCode, dims4
from quantize.blocks import find_blocks
from quantize.layout import Layout
from quantize.ops.base import LoweringContext
from quantize.ops.conv_common import CONV_OP_PARAMS, lower_conv_parts, row_streamable
from quantize.tflite_model import Graph

MAX_CHAIN_STAGES = 8  # model::kMaxChainStages
CHAIN_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D")

ROW_CHAIN_STAGE = Layout("model::RowChainStage",
                         ("conv", CONV_OP_PARAMS), ("filter", "H"), ("bias", "H"), ("depthwise", "H"), ("rows", "H"),
                         ("out_h", "H"), ("out_w", "H"), ("out_c", "H"), ("window_rows", "H"),
                         ("window_offset", "I"))
ROW_CHAIN_PARAMS = Layout("model::RowChainParams", ("num_stages", "I"),
                          *((f"stages[{k}]", ROW_CHAIN_STAGE) for k in range(MAX_CHAIN_STAGES)))
assert ROW_CHAIN_STAGE.size == 68 and ROW_CHAIN_PARAMS.size == 4 + 68 * MAX_CHAIN_STAGES


@dataclass
class Chain:
    """A chain found in the graph: TFLite operator indices of its members, in order."""

    members: list[int]
    input: int   # TFLite tensor the first member reads
    output: int  # TFLite tensor the last member writes


def find_chains(graph: Graph) -> list[Chain]:
    """Maximal runs of CONV_2D / DEPTHWISE_CONV_2D (batch 1), each member's output read by the next
    member only (and not a graph output), of two to MAX_CHAIN_STAGES members (a longer run is cut),
    that reach beyond one inverted-residual block's convolutions (a run that is exactly a block's
    is left to the block, quantize/blocks.py, which also adds its residual)."""
    ops = graph.operators
    consumers: dict[int, list[int]] = {}
    for i, op in enumerate(ops):
        for t in op.inputs:
            if t >= 0:
                consumers.setdefault(t, []).append(i)
    outputs = set(graph.outputs)

    def chainable(i: int) -> bool:
        op = ops[i]
        return (op.op in CHAIN_OPS and graph.tensor(op.inputs[0]).shape[0] == 1 and not graph.converts_at_edge(op)
                and row_streamable(op))

    def next_member(i: int) -> int | None:
        out = ops[i].outputs[0]
        users = consumers.get(out, [])
        if len(users) != 1 or out in outputs or not chainable(users[0]) or ops[users[0]].inputs[0] != out:
            return None
        return users[0]

    block_convs = {tuple(m for m in b.members if ops[m].op in CHAIN_OPS) for b in find_blocks(graph)}
    chains, taken = [], set()
    for i in range(len(ops)):
        if i in taken or not chainable(i):
            continue
        run = [i]
        while len(run) < MAX_CHAIN_STAGES and (j := next_member(run[-1])) is not None:
            run.append(j)
        taken.update(run)
        if len(run) >= 2 and tuple(run) not in block_convs:
            chains.append(Chain(run, ops[run[0]].inputs[0], ops[run[-1]].outputs[0]))
    return chains


# How far the lowering widens a stage's band (more output rows per kernel call: each call re-stages
# its input rows and rebuilds its tables, so wider bands cost fewer instructions, most of all in the
# depthwise stages). A window may grow to WINDOW_BYTES (one that one-row bands already make larger
# stays at that size). The levels, from the fastest: every stage widened, the depthwise stages only,
# one-row bands (the smallest windows); the lowering takes the first that fits the step's budget.
WINDOW_BYTES = 8 * 1024
BAND_ROWS = (2, 4, 8, 16)
BANDS_ALL, BANDS_DEPTHWISE, BANDS_NONE = 2, 1, 0
BAND_LEVELS = (BANDS_ALL, BANDS_DEPTHWISE, BANDS_NONE)


def chain_bands(graph: Graph, chain: Chain, level: int = BANDS_ALL) -> tuple[list[int], list[int]]:
    """(output rows per kernel call, window rows) of each stage (the last one has no window). A
    window holds the rows the next stage's band reads plus the rows its own band computes ahead
    (row_chain.cpp's fill). Bands are widened, 2 to 16 rows, the depthwise stages first, then (level
    BANDS_ALL) the others, while every window stays within max(WINDOW_BYTES, its size with one-row
    bands); BANDS_NONE keeps one-row bands."""
    ops = graph.operators
    shapes = [dims4(graph.tensor(ops[m].outputs[0]).shape) for m in chain.members]
    kh = [graph.tensor(ops[m].inputs[1]).shape[1] for m in chain.members]
    stride = [ops[m].options.stride_h for m in chain.members]
    depthwise = [ops[m].op == "DEPTHWISE_CONV_2D" for m in chain.members]
    n = len(chain.members)

    def windows(rows: list[int]) -> list[int]:
        return [min(shapes[j][1], (rows[j + 1] - 1) * stride[j + 1] + kh[j + 1] + rows[j] - 1) for j in range(n - 1)]

    def window_bytes_of(rows: list[int]) -> list[int]:
        return [w * shapes[j][2] * shapes[j][3] for j, w in enumerate(windows(rows))]

    rows = [1] * n
    limits = [max(WINDOW_BYTES, b) for b in window_bytes_of(rows)]
    order = [j for j in range(n) if depthwise[j]] + ([j for j in range(n) if not depthwise[j]]
                                                     if level == BANDS_ALL else [])
    for j in order if level != BANDS_NONE else []:
        for band in BAND_ROWS:
            trial = rows[:j] + [band] + rows[j + 1:]
            if band <= shapes[j][1] and all(b <= limit for b, limit in zip(window_bytes_of(trial), limits)):
                rows = trial
    return rows, windows(rows) + [0]


def lower_chain(lowering: LoweringContext, chain: Chain, bands: int = BANDS_ALL) -> None:
    """Emits `chain` as one ROW_CHAIN op with a window buffer per intermediate (chain_bands)."""
    g, ops = lowering.graph, lowering.graph.operators
    rows, window_rows_of = chain_bands(g, chain, bands)
    stages, windows = [], []
    for j, index in enumerate(chain.members):
        op = ops[index]
        depthwise = op.op == "DEPTHWISE_CONV_2D"
        parts = lower_conv_parts(lowering, op, depthwise=depthwise)
        _, out_h, out_w, out_c = dims4(g.tensor(op.outputs[0]).shape)
        window_rows = window_rows_of[j]
        if j + 1 < len(chain.members):
            windows.append((j, window_rows * out_w * out_c))
        stages.append({"conv": parts.params, "filter": parts.filter,
                       "bias": parts.bias if parts.bias is not None else NO_TENSOR,
                       "depthwise": 1 if depthwise else 0, "rows": rows[j], "out_h": out_h, "out_w": out_w,
                       "out_c": out_c, "window_rows": window_rows, "window_offset": 0})
        stages[-1]["macs"] = parts.macs
    macs = sum(s.pop("macs") for s in stages)
    fields = {"num_stages": len(stages)}
    for k in range(MAX_CHAIN_STAGES):
        fields[f"stages[{k}]"] = stages[k] if k < len(stages) else ROW_CHAIN_STAGE.zero_fields()
    op_index = lowering.emit(OpCode.ROW_CHAIN, [lowering.activation(chain.input)], lowering.activation(chain.output),
                             ROW_CHAIN_PARAMS.pack_fields(fields), macs)
    params_offset = lowering.builder.ops[op_index].params_offset
    for j, nbytes in windows:
        lowering.scratch_buffer(op_index, params_offset + ROW_CHAIN_PARAMS.offset(f"stages[{j}].window_offset"), nbytes)
