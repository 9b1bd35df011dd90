"""An int8 .tflite read into a small typed graph (quantize/graph.py), checked against what mcutrain
implements.

The flatbuffer is read with tflite-micro's generated schema bindings. `parse_tflite` reads each
operator's options and validates it through its op's definition in the registry (quantize/ops/),
and refuses any op, option or tensor type the golden reference and the firmware do not implement,
with an UnsupportedModelError naming the operator index and op, and listing what is supported.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tflite_micro.tensorflow.lite.micro.python.schema_py_generated as schema

from quantize.dilated_fold import BLOCK_OPS, dilated_convolutions
from quantize.errors import UnsupportedModelError
from quantize.graph import Graph, Operator, Quantization, Tensor  # noqa: F401  (re-exported)
from quantize.ops import OPS, op_def
from quantize.ops.add import AddOptions  # noqa: F401  (the options types, re-exported)
from quantize.ops.base import NoOptions  # noqa: F401
from quantize.ops.strided_slice import SPLIT_OPS, SliceOptions, split_slices  # noqa: F401
from quantize.ops.conv_2d import Conv2DOptions  # noqa: F401
from quantize.ops.depthwise_conv_2d import DepthwiseConv2DOptions  # noqa: F401
from quantize.ops.fully_connected import FullyConnectedOptions  # noqa: F401
from quantize.ops.mean import MeanOptions  # noqa: F401
from quantize.ops.options import SUPPORTED_STRIDES  # noqa: F401
from quantize.ops.pad import PadOptions  # noqa: F401
from quantize.ops.pool import Pool2DOptions  # noqa: F401
from quantize.ops.softmax import SoftmaxOptions  # noqa: F401

_BUILTIN_NAMES = {code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
_TYPE_NAMES = {code: name.lower() for name, code in vars(schema.TensorType).items() if not name.startswith("_")}
_NUMPY_TYPES = {"int8": np.int8, "int16": np.int16, "int32": np.int32, "int64": np.int64, "float32": np.float32,
                "uint8": np.uint8}
MAX_RANK = 4  # the blob's tensor records have four dimensions

SUPPORTED_OPS = tuple(OPS)


# -- reading ------------------------------------------------------------------------------------

def parse_tflite(tflite: bytes) -> Graph:
    """The typed graph of an int8 .tflite flatbuffer; raises UnsupportedModelError for anything
    outside the supported set (one subgraph, one input, one output, SUPPORTED_OPS and options)."""
    try:
        model = schema.ModelT.InitFromPackedBuf(tflite, 0)
    except Exception as err:  # the flatbuffer library raises assorted errors on garbage
        raise UnsupportedModelError(f"not a TFLite flatbuffer ({err.__class__.__name__}: {err})") from None
    if model.subgraphs is None or len(model.subgraphs) != 1:
        raise UnsupportedModelError(_subgraphs_refusal(model))
    subgraph = model.subgraphs[0]
    tensors = tuple(_read_tensor(model, tflite, subgraph.tensors[i], i) for i in range(len(subgraph.tensors)))
    inputs = tuple(int(i) for i in subgraph.inputs)
    outputs = tuple(int(i) for i in subgraph.outputs)
    if len(inputs) != 1 or len(outputs) != 1:
        raise UnsupportedModelError(
            f"the model has {len(inputs)} inputs and {len(outputs)} outputs; exactly 1 and 1 are supported")
    raw_ops = [(_op_name(model, raw), _indices(raw.inputs), _indices(raw.outputs), raw)
               for raw in subgraph.operators or []]
    folded = _shape_only_ops(raw_ops, subgraph.tensors, outputs)
    computed_shapes = {t for index in folded for t in raw_ops[index][2]}
    dilated, unfolded = dilated_convolutions(raw_ops, tensors, outputs)
    folded |= {i for fold in dilated.values() for i in (fold.space_to_batch, fold.batch_to_space)}
    operators = []
    for index, (name, op_inputs, op_outputs, raw) in enumerate(raw_ops):
        if index in folded:
            continue
        if name == "RESHAPE" and op_inputs[1:2] and op_inputs[1] in computed_shapes:
            op_inputs = op_inputs[:1]  # the folded shape: RESHAPE takes its static output shape
        if index in dilated:  # the convolution of a dilated triple takes the triple's input and output
            op_inputs, op_outputs = (dilated[index].input, *op_inputs[1:]), (dilated[index].output,)
        if name in BLOCK_OPS:
            raise UnsupportedModelError(f"operator {index} is {name}, which mcutrain folds only into a dilated "
                                        f"convolution, and here {unfolded[index]}")
        if name in SPLIT_OPS:  # one STRIDED_SLICE per output: later operators are numbered after them
            try:
                slices = split_slices(name, raw.builtinOptions, op_inputs, op_outputs, tensors)
            except UnsupportedModelError as err:
                raise UnsupportedModelError(f"operator {index} ({name}): {err}") from None
            first = len(operators)
            operators.extend(Operator(first + i, "STRIDED_SLICE", *piece) for i, piece in enumerate(slices))
            continue
        if name not in SUPPORTED_OPS:
            raise UnsupportedModelError(f"operator {index} is {name}, which mcutrain does not implement"
                                        f"{_advice(name)} (supported: {', '.join(SUPPORTED_OPS + SPLIT_OPS)})")
        try:
            options = op_def(name).read_options(raw.builtinOptions, op_inputs, tensors)
        except UnsupportedModelError as err:
            raise UnsupportedModelError(f"operator {index} ({name}): {err}") from None
        if index in dilated:
            fold = dilated[index]
            options = dataclasses.replace(options, dilation_h=fold.dilation_h, dilation_w=fold.dilation_w,
                                          padding=fold.padding)
        # Numbered as the graph runs them: with a shape chain folded, later indices move up.
        operators.append(Operator(len(operators), name, op_inputs, op_outputs, options))
    graph = Graph(tensors, tuple(operators), inputs, outputs)
    _require_integer_edges(graph)
    for op in graph.operators:
        try:
            _validate(graph, op)
        except UnsupportedModelError as err:
            raise UnsupportedModelError(f"operator {op.index} ({op.op}): {err}") from None
    return graph


def operator_names(tflite: bytes) -> list[str]:
    """The names of the ops of the model's first subgraph, in order, supported or not."""
    model = schema.ModelT.InitFromPackedBuf(tflite, 0)
    return [_op_name(model, raw) for raw in (model.subgraphs[0].operators or [])] if model.subgraphs else []


def fold_dilations(tflite: bytes) -> bytes:
    """The same flatbuffer with each SPACE_TO_BATCH_ND -> convolution -> BATCH_TO_SPACE_ND triple
    rewritten as the one dilated convolution it computes (quantize/dilated_fold.py): what TFLite
    Micro, which cannot run the triple with a dynamic batch, runs as the oracle of such a model."""
    import flatbuffers

    model = schema.ModelT.InitFromPackedBuf(tflite, 0)
    subgraph = model.subgraphs[0]
    tensors = tuple(_read_tensor(model, tflite, subgraph.tensors[i], i) for i in range(len(subgraph.tensors)))
    raw_ops = [(_op_name(model, raw), _indices(raw.inputs), _indices(raw.outputs), raw)
               for raw in subgraph.operators or []]
    folds, _ = dilated_convolutions(raw_ops, tensors, tuple(int(i) for i in subgraph.outputs))
    for index, fold in folds.items():
        raw = subgraph.operators[index]
        raw.inputs = [fold.input, *raw.inputs[1:]]
        raw.outputs = [fold.output]
        raw.builtinOptions.dilationHFactor, raw.builtinOptions.dilationWFactor = fold.dilation_h, fold.dilation_w
        raw.builtinOptions.padding = getattr(schema.Padding, fold.padding)
    dropped = {i for fold in folds.values() for i in (fold.space_to_batch, fold.batch_to_space)}
    subgraph.operators = [raw for i, raw in enumerate(subgraph.operators) if i not in dropped]
    builder = flatbuffers.Builder(len(tflite) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


# What a dynamic batch computes RESHAPE's new shape with (Keras Flatten or Reshape converted without
# a fixed batch: SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE).
SHAPE_OPS = ("SHAPE", "STRIDED_SLICE", "PACK")
_FIX_THE_BATCH = ("; it computes a shape at run time (a dynamic batch): fix the batch at 1 "
                  "(keras.Input(shape, batch_size=1)) before converting, or convert with mcutrain quantize")


def _indices(values) -> tuple[int, ...]:
    return tuple(int(i) for i in (values if values is not None else []))


def _shape_only_ops(raw_ops: list, raw_tensors, graph_outputs: tuple[int, ...]) -> set[int]:
    """The SHAPE_OPS whose results only reach the new-shape input of a RESHAPE whose output is
    known for batch 1: that RESHAPE takes its static output shape instead, so they are folded
    away, as a fixed batch converts. TFLite orders operators so that consumers come after
    producers: a backward scan sees every consumer's verdict first."""
    consumers: dict[int, list[tuple[int, int]]] = {}
    for index, (_, op_inputs, _, _) in enumerate(raw_ops):
        for position, tensor in enumerate(op_inputs):
            consumers.setdefault(tensor, []).append((index, position))
    folded: set[int] = set()
    for index in reversed(range(len(raw_ops))):
        name, _, op_outputs, _ = raw_ops[index]
        if name not in SHAPE_OPS or any(t in graph_outputs for t in op_outputs):
            continue
        uses = [use for t in op_outputs for use in consumers.get(t, [])]
        if uses and all(user in folded or (raw_ops[user][0] == "RESHAPE" and position == 1
                                           and _known_at_batch_1(raw_tensors[raw_ops[user][2][0]]))
                        for user, position in uses):
            folded.add(index)
    return folded


def _known_at_batch_1(raw) -> bool:
    """A tensor whose only dynamic dimension is the batch: its static shape is then its shape at
    batch 1. (Where other dimensions are dynamic the static shape is a placeholder, such as [1, 1].)"""
    shape = [int(d) for d in (raw.shape if raw.shape is not None else [])]
    signature = [int(d) for d in raw.shapeSignature] if raw.shapeSignature is not None else shape
    return (len(shape) == len(signature) > 0 and shape[0] == 1 and all(d > 0 for d in shape)
            and signature[0] in (-1, 1) and signature[1:] == shape[1:])


def _advice(name: str) -> str:
    """What a refusal adds for an op whose cause the user can remove."""
    return _FIX_THE_BATCH if name in SHAPE_OPS else ""


# Ops that call other subgraphs or hold state between calls: what a model with several subgraphs
# is made of (streaming keyword spotting keeps its frames in resource variables).
STATEFUL_OPS = ("CALL_ONCE", "VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE", "WHILE", "IF", "CALL")


def _subgraphs_refusal(model) -> str:
    """Why a model without exactly one subgraph is refused, naming its control-flow and variable ops."""
    if not model.subgraphs:
        return "the model has no subgraph; exactly 1 is supported"
    found = [f"{_op_name(model, raw)} (subgraph {s}, operator {i})"
             for s, subgraph in enumerate(model.subgraphs) for i, raw in enumerate(subgraph.operators or [])
             if _op_name(model, raw) in STATEFUL_OPS]
    return (f"the model has {len(model.subgraphs)} subgraphs"
            + (f" and control-flow or variable ops: {', '.join(found[:4])}{' ...' if len(found) > 4 else ''}"
               if found else "")
            + "; stateful or streaming models (resource variables, control flow) are not supported: "
            "export the model without state, as one subgraph")


def _require_integer_edges(graph: Graph) -> None:
    """The model computes in int8 from its (possibly quantized) input to its (possibly dequantized)
    output: a float model gets this message rather than one about its first float op."""
    for role, index in (("input", graph.int8_input), ("output", graph.int8_output)):
        tensor = graph.tensor(index)
        if tensor.dtype != "int8":
            raise UnsupportedModelError(
                f"{role} tensor '{tensor.name}' is not int8 ({tensor.dtype}); "
                "convert with full-integer quantization (mcutrain quantize does)")


def _op_name(model, raw) -> str:
    code = model.operatorCodes[raw.opcodeIndex]
    if code.customCode:
        return f"custom op '{code.customCode.decode(errors='replace')}'"
    builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
    return _BUILTIN_NAMES.get(builtin, f"builtin {builtin}")


def _read_tensor(model, tflite: bytes, raw, index: int) -> Tensor:
    dtype = _TYPE_NAMES.get(raw.type, f"type {raw.type}")
    shape = tuple(int(d) for d in (raw.shape if raw.shape is not None else []))
    name = raw.name.decode(errors="replace") if raw.name else f"tensor{index}"
    quantization = None
    q = raw.quantization
    if q is not None and q.scale is not None and len(q.scale) > 0:
        zero_points = q.zeroPoint if q.zeroPoint is not None else [0] * len(q.scale)
        quantization = Quantization(np.asarray(q.scale, dtype=np.float32), np.asarray(zero_points, dtype=np.int64),
                                    int(q.quantizedDimension))
    return Tensor(index, name, shape, dtype, quantization, _read_buffer(model, tflite, raw, shape, dtype))


def _read_buffer(model, tflite: bytes, raw, shape: tuple[int, ...], dtype: str) -> np.ndarray | None:
    if model.buffers is None or raw.buffer >= len(model.buffers):
        return None
    buffer = model.buffers[raw.buffer]
    if buffer.data is not None and len(buffer.data) > 0:
        payload = bytes(np.asarray(buffer.data, dtype=np.uint8))
    elif buffer.offset > 1 and buffer.size > 0:  # large models keep buffers after the flatbuffer
        payload = tflite[buffer.offset:buffer.offset + buffer.size]
    else:
        return None
    if dtype not in _NUMPY_TYPES:
        raise UnsupportedModelError(f"constant tensor '{raw.name.decode(errors='replace')}' has type {dtype}")
    return np.frombuffer(payload, dtype=np.dtype(_NUMPY_TYPES[dtype]).newbyteorder("<")).astype(
        _NUMPY_TYPES[dtype]).reshape(shape)


# -- validation of tensor types and shapes --------------------------------------------------------

def _validate(graph: Graph, op: Operator) -> None:
    """Tensor types and shapes the reference kernels assume (the options were checked on reading)."""
    for i in op.inputs + op.outputs:
        if i >= 0 and len(graph.tensor(i).shape) > MAX_RANK:
            raise UnsupportedModelError(
                f"tensor '{graph.tensor(i).name}' of rank {len(graph.tensor(i).shape)} (supported: at most {MAX_RANK})")
    op_def(op.op).validate(graph, op)
