"""The row-streamed inverted-residual block (firmware/lib/model/fused_block.h): its parameter block
(model::InvertedResidualParams) and its lowering into one INVERTED_RESIDUAL blob op.

The block's members (quantize/blocks.py finds them) keep their own Prepare and parameter blocks
(quantize/ops/conv_common.py, quantize/ops/add.py); only the expanded tensors change: they never
exist whole, only a window of kh expanded rows and one depthwise output row, two scratch buffers
the memory plan places.
"""

from __future__ import annotations

from quantize.blob_format import NO_TENSOR, OpCode, dims4
from quantize.blocks import Block
from quantize.layout import Layout
from quantize.ops import add
from quantize.ops.base import LoweringContext
from quantize.ops.conv_common import CONV_OP_PARAMS, lower_conv_parts

# After the four members' blocks: six tensor indices, has_expand, residual, then the arena offsets
# of the two scratch buffers (written after memory planning).
_TAIL_MEMBERS = (
    ("expand_filter", "H"), ("expand_bias", "H"), ("depthwise_filter", "H"), ("depthwise_bias", "H"),
    ("project_filter", "H"), ("project_bias", "H"), ("has_expand", "H"), ("residual", "H"),
    ("window_offset", "I"), ("row_offset", "I"))
INVERTED_RESIDUAL_PARAMS = Layout("model::InvertedResidualParams",
                                  ("expand", CONV_OP_PARAMS), ("depthwise", CONV_OP_PARAMS),
                                  ("project", CONV_OP_PARAMS), ("add", add.ADD_PARAMS), *_TAIL_MEMBERS)
# The tail alone, as blob.FUSED_TAIL was (its offsets are from expand_filter).
FUSED_TAIL = Layout("model::InvertedResidualParams from expand_filter on", *_TAIL_MEMBERS)
assert INVERTED_RESIDUAL_PARAMS.size == 3 * CONV_OP_PARAMS.size + add.ADD_PARAMS.size + FUSED_TAIL.size == 216


def lower_block(lowering: LoweringContext, block: Block) -> None:
    """Emits `block` as one INVERTED_RESIDUAL op with its two scratch buffers."""
    g, ops = lowering.graph, lowering.graph.operators
    expand = lower_conv_parts(lowering, ops[block.expand], depthwise=False) if block.expand is not None else None
    dw = lower_conv_parts(lowering, ops[block.depthwise], depthwise=True)
    project = lower_conv_parts(lowering, ops[block.project], depthwise=False)
    residual, add_fields = 0, add.ADD_PARAMS.zero_fields()
    if block.add is not None:
        residual = 1 if ops[block.add].inputs[0] == block.input else 2
        add_fields = add.ADD_PARAMS.fields_of(add.prepare(g, ops[block.add]))
    params = INVERTED_RESIDUAL_PARAMS.pack_fields({
        "expand": expand.params if expand else CONV_OP_PARAMS.zero_fields(),
        "depthwise": dw.params, "project": project.params, "add": add_fields,
        "expand_filter": expand.filter if expand else NO_TENSOR,
        "expand_bias": expand.bias if expand and expand.bias is not None else NO_TENSOR,
        "depthwise_filter": dw.filter, "depthwise_bias": dw.bias if dw.bias is not None else NO_TENSOR,
        "project_filter": project.filter, "project_bias": project.bias if project.bias is not None else NO_TENSOR,
        "has_expand": 1 if expand else 0, "residual": residual, "window_offset": 0, "row_offset": 0})
    macs = (expand.macs if expand else 0) + dw.macs + project.macs
    op_index = lowering.emit(OpCode.INVERTED_RESIDUAL, [lowering.activation(block.input)],
                             lowering.activation(block.output), params, macs)

    width = dims4(g.tensor(block.input).shape)[2]
    dw_in = dims4(g.tensor(ops[block.depthwise].inputs[0]).shape)
    dw_out = dims4(g.tensor(ops[block.depthwise].outputs[0]).shape)
    kh = g.tensor(ops[block.depthwise].inputs[1]).shape[1]
    expanded_c = dw_in[3]
    params_offset = lowering.builder.ops[op_index].params_offset
    if expand is not None:  # a window of kh expanded rows
        lowering.scratch_buffer(op_index, params_offset + INVERTED_RESIDUAL_PARAMS.offset("window_offset"),
                                kh * width * expanded_c)
    lowering.scratch_buffer(op_index, params_offset + INVERTED_RESIDUAL_PARAMS.offset("row_offset"),
                            dw_out[2] * expanded_c)  # one depthwise output row
