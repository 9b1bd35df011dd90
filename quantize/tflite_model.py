"""An int8 .tflite read into a small typed graph (quantize/graph.py), checked against what mcutrain
implements.

The flatbuffer is read with tflite-micro's generated schema bindings. `parse_tflite` reads each
operator's options and validates it through its op's definition in the registry (quantize/ops/),
and refuses any op, option or tensor type the golden reference and the firmware do not implement,
with an UnsupportedModelError naming the operator index and op, and listing what is supported.
"""

from __future__ import annotations

import numpy as np
import tflite_micro.tensorflow.lite.micro.python.schema_py_generated as schema

from quantize.errors import UnsupportedModelError
from quantize.graph import Graph, Operator, Quantization, Tensor  # noqa: F401  (re-exported)
from quantize.ops import OPS, op_def
from quantize.ops.add import AddOptions  # noqa: F401  (the options types, re-exported)
from quantize.ops.base import NoOptions  # noqa: F401
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
        count = 0 if model.subgraphs is None else len(model.subgraphs)
        raise UnsupportedModelError(f"the model has {count} subgraphs; exactly 1 is supported")
    subgraph = model.subgraphs[0]
    tensors = tuple(_read_tensor(model, tflite, subgraph.tensors[i], i) for i in range(len(subgraph.tensors)))
    inputs = tuple(int(i) for i in subgraph.inputs)
    outputs = tuple(int(i) for i in subgraph.outputs)
    if len(inputs) != 1 or len(outputs) != 1:
        raise UnsupportedModelError(
            f"the model has {len(inputs)} inputs and {len(outputs)} outputs; exactly 1 and 1 are supported")
    operators = []
    for index, raw in enumerate(subgraph.operators or []):
        name = _op_name(model, raw)
        if name not in SUPPORTED_OPS:
            raise UnsupportedModelError(
                f"operator {index} is {name}, which mcutrain does not implement "
                f"(supported: {', '.join(SUPPORTED_OPS)})")
        op_inputs = tuple(int(i) for i in (raw.inputs if raw.inputs is not None else []))
        op_outputs = tuple(int(i) for i in (raw.outputs if raw.outputs is not None else []))
        try:
            options = op_def(name).read_options(raw.builtinOptions, op_inputs, tensors)
        except UnsupportedModelError as err:
            raise UnsupportedModelError(f"operator {index} ({name}): {err}") from None
        operators.append(Operator(index, name, op_inputs, op_outputs, options))
    graph = Graph(tensors, tuple(operators), inputs, outputs)
    _require_integer_edges(graph)
    for op in graph.operators:
        try:
            _validate(graph, op)
        except UnsupportedModelError as err:
            raise UnsupportedModelError(f"operator {op.index} ({op.op}): {err}") from None
    return graph


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
