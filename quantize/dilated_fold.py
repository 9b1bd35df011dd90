"""The TFLite converter's dilated convolution, folded back into one op at parse time.

Without a fixed batch, TFLite's converter writes a Keras Conv2D or DepthwiseConv2D with
dilation_rate d as SPACE_TO_BATCH_ND (block [d_h, d_w], zero-point padding) -> the convolution
with dilation 1 and stride 1 on each of the d_h * d_w sub-images -> BATCH_TO_SPACE_ND (same
block, crops). Output row y of the three then reads input rows y + c - p * d_h - t + f * d_h
(t the block padding before the first row, p the inner convolution's leading padding, c the crop
before the first row, f the filter row): the one convolution with dilation d_h and leading
padding t + p * d_h - c. Taps in the block padding read the input zero point, which adds nothing,
as taps outside the input do. `dilated_convolutions` finds the triples and says what each folds
into; `parse_tflite` then reads the convolution with the triple's input and output and these
options, and drops the other two ops.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quantize.graph import Tensor
from quantize.ops.options import MAX_DILATION
from quantize.ops.options import padding as padding_name
from quantize.ops.windows import leading_padding

CONVOLUTIONS = ("CONV_2D", "DEPTHWISE_CONV_2D")
BLOCK_OPS = ("SPACE_TO_BATCH_ND", "BATCH_TO_SPACE_ND")


@dataclass(frozen=True)
class DilatedConv:
    """A SPACE_TO_BATCH_ND -> convolution -> BATCH_TO_SPACE_ND triple read as one convolution."""

    space_to_batch: int     # raw operator indices
    conv: int
    batch_to_space: int
    input: int              # tensor indices: SPACE_TO_BATCH_ND's input, BATCH_TO_SPACE_ND's output
    output: int
    dilation_h: int
    dilation_w: int
    padding: str            # "SAME" or "VALID": what the folded leading padding and sizes amount to


def dilated_convolutions(raw_ops: list, tensors: tuple[Tensor, ...],
                         graph_outputs: tuple[int, ...]) -> tuple[dict[int, DilatedConv], dict[int, str]]:
    """({conv's raw index: its fold}, {raw index of a block op that does not fold: why}).
    raw_ops are (name, inputs, outputs, raw options) in the flatbuffer's order."""
    consumers: dict[int, list[tuple[int, int]]] = {}
    for index, (_, op_inputs, _, _) in enumerate(raw_ops):
        for position, tensor in enumerate(op_inputs):
            consumers.setdefault(tensor, []).append((index, position))
    folds: dict[int, DilatedConv] = {}
    refusals: dict[int, str] = {}
    for index, (name, _, _, _) in enumerate(raw_ops):
        if name != "SPACE_TO_BATCH_ND":
            continue
        fold = _fold(index, raw_ops, tensors, graph_outputs, consumers)
        if isinstance(fold, str):
            refusals[index] = fold
        else:
            folds[fold.conv] = fold
    folded = {i for f in folds.values() for i in (f.space_to_batch, f.batch_to_space)}
    for index, (name, _, _, _) in enumerate(raw_ops):
        if name == "BATCH_TO_SPACE_ND" and index not in folded:
            refusals.setdefault(index, "it does not close a SPACE_TO_BATCH_ND -> CONV_2D | DEPTHWISE_CONV_2D "
                                       "-> BATCH_TO_SPACE_ND chain")
    return folds, refusals


def _only_consumer(tensor: int, consumers, graph_outputs) -> tuple[int, int] | None:
    uses = consumers.get(tensor, [])
    return uses[0] if len(uses) == 1 and tensor not in graph_outputs else None


def _constant(tensors: tuple[Tensor, ...], op_inputs: tuple[int, ...], position: int,
              shape: tuple[int, ...]) -> np.ndarray | None:
    if len(op_inputs) <= position or op_inputs[position] < 0:
        return None
    data = tensors[op_inputs[position]].data
    return data.astype(np.int64).reshape(shape) if data is not None and data.size == np.prod(shape) else None


def _same_quantization(a: Tensor, b: Tensor) -> bool:
    return (a.quantization is not None and b.quantization is not None and a.scale == b.scale
            and a.zero_point == b.zero_point)


def _fold(index: int, raw_ops: list, tensors: tuple[Tensor, ...], graph_outputs, consumers) -> DilatedConv | str:
    """The fold of the SPACE_TO_BATCH_ND at `index`, or why it has none."""
    chain = ("it is not the start of a SPACE_TO_BATCH_ND -> CONV_2D | DEPTHWISE_CONV_2D -> BATCH_TO_SPACE_ND "
             "chain (a dilated convolution)")
    _, stb_inputs, stb_outputs, _ = raw_ops[index]
    use = _only_consumer(stb_outputs[0], consumers, graph_outputs)
    if use is None or use[1] != 0 or raw_ops[use[0]][0] not in CONVOLUTIONS:
        return chain
    conv = use[0]
    _, conv_inputs, conv_outputs, conv_raw = raw_ops[conv]
    use = _only_consumer(conv_outputs[0], consumers, graph_outputs)
    if use is None or use[1] != 0 or raw_ops[use[0]][0] != "BATCH_TO_SPACE_ND":
        return chain
    bts = use[0]
    _, bts_inputs, bts_outputs, _ = raw_ops[bts]
    block, paddings = _constant(tensors, stb_inputs, 1, (2,)), _constant(tensors, stb_inputs, 2, (2, 2))
    crops, bts_block = _constant(tensors, bts_inputs, 2, (2, 2)), _constant(tensors, bts_inputs, 1, (2,))
    if block is None or paddings is None or crops is None or bts_block is None:
        return "its block shape, paddings and crops must be constant, over height and width"
    if not np.array_equal(block, bts_block) or block.min() < 1 or paddings.min() < 0 or crops.min() < 0:
        return f"block shapes {block.tolist()} and {bts_block.tolist()} differ or are not positive"
    if block.max() > MAX_DILATION:
        return f"its block shape {block.tolist()} is a dilation over {MAX_DILATION}"
    x, inner_x, inner_y, y = (tensors[i] for i in (stb_inputs[0], stb_outputs[0], conv_outputs[0], bts_outputs[0]))
    if len(x.shape) != 4 or len(y.shape) != 4 or len(inner_x.shape) != 4 or len(inner_y.shape) != 4:
        return "its tensors must be NHWC"
    if not (_same_quantization(x, inner_x) and _same_quantization(inner_y, y)):
        return "the block ops change the quantization"
    options = conv_raw.builtinOptions
    if (options.strideH, options.strideW, options.dilationHFactor, options.dilationWFactor) != (1, 1, 1, 1):
        return "the convolution between the block ops has a stride or a dilation of its own"
    inner_padding = padding_name(options.padding)
    filter_hw = tensors[conv_inputs[1]].shape[1:3]
    paddings_found = set()
    for axis in (0, 1):
        inner = leading_padding(inner_padding, inner_x.shape[1 + axis], filter_hw[axis], 1, inner_y.shape[1 + axis])
        pad = int(paddings[axis, 0] + inner * block[axis] - crops[axis, 0])
        in_size, out_size, span = x.shape[1 + axis], y.shape[1 + axis], (filter_hw[axis] - 1) * int(block[axis]) + 1
        same = leading_padding("SAME", in_size, filter_hw[axis], 1, out_size, int(block[axis]))
        if out_size == in_size and pad == same:
            paddings_found.add("SAME")
        elif out_size == in_size - span + 1 and pad == 0:
            paddings_found.add("VALID")
        else:
            return f"its paddings and crops give a leading padding of {pad}, neither SAME's nor VALID's"
    if len(paddings_found) != 1:
        return "its paddings and crops give SAME padding in one dimension and VALID in the other"
    return DilatedConv(index, conv, bts, stb_inputs[0], bts_outputs[0], int(block[0]), int(block[1]),
                       paddings_found.pop())
