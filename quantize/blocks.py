"""Inverted-residual blocks of a parsed graph: the op sequences the firmware can run row by row as
one INVERTED_RESIDUAL op (firmware/lib/model/fused_block.h), so that the expanded intermediate
tensors never exist whole in the arena."""

from __future__ import annotations

from dataclasses import dataclass

from quantize.ops.conv_common import row_streamable
from quantize.tflite_model import Graph


@dataclass
class Block:
    """An inverted-residual block found in the graph: TFLite operator indices of its members."""

    expand: int | None
    depthwise: int
    project: int
    add: int | None
    input: int   # TFLite tensor the block reads (the expand's input, or the depthwise's)
    output: int  # TFLite tensor the block writes (the add's output, or the project's)

    @property
    def members(self) -> list[int]:
        return [i for i in (self.expand, self.depthwise, self.project, self.add) if i is not None]


def find_blocks(graph: Graph) -> list[Block]:
    """Inverted-residual blocks: [CONV_2D 1x1 s1 ->] DEPTHWISE_CONV_2D -> CONV_2D 1x1 s1
    [-> ADD with the block input], each intermediate read by the next member only."""
    ops = graph.operators
    consumers: dict[int, list[int]] = {}
    producer: dict[int, int] = {}
    for i, op in enumerate(ops):
        for t in op.inputs:
            if t >= 0:
                consumers.setdefault(t, []).append(i)
        for t in op.outputs:
            producer[t] = i
    outputs = set(graph.outputs)

    def only_consumer(tensor: int) -> int | None:
        users = consumers.get(tensor, [])
        return users[0] if len(users) == 1 and tensor not in outputs else None

    def is_pointwise(i: int) -> bool:
        op = ops[i]
        if op.op != "CONV_2D":
            return False
        shape = graph.tensor(op.inputs[1]).shape
        return (shape[1] == 1 and shape[2] == 1 and op.options.stride_h == 1 and op.options.stride_w == 1
                and row_streamable(op))

    blocks = []
    for d, op in enumerate(ops):
        # One image at a time: the firmware streams the rows of a batch of 1.
        if op.op != "DEPTHWISE_CONV_2D" or graph.tensor(op.inputs[0]).shape[0] != 1 or not row_streamable(op):
            continue
        project = only_consumer(op.outputs[0])
        if project is None or not is_pointwise(project):
            continue
        expand = producer.get(op.inputs[0])
        if expand is None or not is_pointwise(expand) or only_consumer(ops[expand].outputs[0]) != d:
            expand = None
        block_input = ops[expand].inputs[0] if expand is not None else op.inputs[0]
        add = only_consumer(ops[project].outputs[0])
        if add is not None and not (ops[add].op == "ADD" and block_input in ops[add].inputs):
            add = None
        output = ops[add].outputs[0] if add is not None else ops[project].outputs[0]
        blocks.append(Block(expand, d, project, add, block_input, output))
    return blocks
