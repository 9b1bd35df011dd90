"""An int8 .tflite read into a small typed graph (quantize/graph.py), checked against what mcutrain
implements.

The flatbuffer is read with tflite-micro's generated schema bindings; the result holds plain
Python and numpy values: tensors (shape, type, per-tensor or per-channel quantization, constant
data) and operators (op name, tensor indices, parsed options). `parse_tflite` refuses any op,
option or tensor type the golden reference and the firmware do not implement, with an
UnsupportedModelError naming the operator index and op, and listing what is supported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import numpy as np
import tflite_micro.tensorflow.lite.micro.python.schema_py_generated as schema

from quantize.errors import UnsupportedModelError
from quantize.graph import Graph, Operator, Quantization, Tensor  # noqa: F401  (re-exported)
from quantize.requant import SUPPORTED_ACTIVATIONS

_BUILTIN_NAMES = {code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
_TYPE_NAMES = {code: name.lower() for name, code in vars(schema.TensorType).items() if not name.startswith("_")}
_ACTIVATION_NAMES = {code: name for name, code in vars(schema.ActivationFunctionType).items()
                     if not name.startswith("_")}
_PADDING_NAMES = {code: name for name, code in vars(schema.Padding).items() if not name.startswith("_")}
_NUMPY_TYPES = {"int8": np.int8, "int16": np.int16, "int32": np.int32, "int64": np.int64, "float32": np.float32,
                "uint8": np.uint8}

SUPPORTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "AVERAGE_POOL_2D", "MAX_POOL_2D",
                 "MEAN", "RESHAPE", "PAD", "SOFTMAX", "QUANTIZE", "DEQUANTIZE")
SUPPORTED_STRIDES = (1, 2)


# -- operator options ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Conv2DOptions:
    padding: str      # "SAME" or "VALID"
    stride_h: int
    stride_w: int
    dilation_h: int
    dilation_w: int
    activation: str   # "NONE", "RELU" or "RELU6"


@dataclass(frozen=True)
class DepthwiseConv2DOptions:
    padding: str
    stride_h: int
    stride_w: int
    dilation_h: int
    dilation_w: int
    depth_multiplier: int
    activation: str


@dataclass(frozen=True)
class FullyConnectedOptions:
    activation: str
    keep_num_dims: bool


@dataclass(frozen=True)
class AddOptions:
    activation: str


@dataclass(frozen=True)
class Pool2DOptions:
    padding: str
    stride_h: int
    stride_w: int
    filter_h: int
    filter_w: int
    activation: str


@dataclass(frozen=True)
class MeanOptions:
    axes: tuple[int, ...]   # non-negative, sorted
    keep_dims: bool


@dataclass(frozen=True)
class PadOptions:
    paddings: tuple[tuple[int, int], ...]  # (before, after) for each input dimension


@dataclass(frozen=True)
class SoftmaxOptions:
    beta: float


@dataclass(frozen=True)
class NoOptions:
    """RESHAPE (the output tensor carries the shape), QUANTIZE, DEQUANTIZE."""


OpOptions = Union[Conv2DOptions, DepthwiseConv2DOptions, FullyConnectedOptions, AddOptions, Pool2DOptions,
                  MeanOptions, PadOptions, SoftmaxOptions, NoOptions]


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
            options = _read_options(name, raw.builtinOptions, op_inputs, tensors)
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


def _activation(code: int) -> str:
    name = _ACTIVATION_NAMES.get(code, str(code))
    if name not in SUPPORTED_ACTIVATIONS:
        raise UnsupportedModelError(
            f"fused activation {name} (supported: {', '.join(SUPPORTED_ACTIVATIONS)})")
    return name


def _padding(code: int) -> str:
    return _PADDING_NAMES.get(code, str(code))


def _strides(stride_h: int, stride_w: int) -> None:
    if stride_h not in SUPPORTED_STRIDES or stride_w not in SUPPORTED_STRIDES:
        raise UnsupportedModelError(f"stride {stride_h}x{stride_w} (supported: 1 or 2 in each dimension)")


def _dilation(dilation_h: int, dilation_w: int) -> None:
    if dilation_h != 1 or dilation_w != 1:
        raise UnsupportedModelError(f"dilation {dilation_h}x{dilation_w} (supported: 1x1)")


def _constant(tensors: tuple[Tensor, ...], inputs: tuple[int, ...], position: int, what: str) -> np.ndarray:
    if len(inputs) <= position or inputs[position] < 0 or tensors[inputs[position]].data is None:
        raise UnsupportedModelError(f"{what} must be a constant tensor")
    return tensors[inputs[position]].data


def _read_options(name: str, raw, inputs: tuple[int, ...], tensors: tuple[Tensor, ...]) -> OpOptions:
    if name == "CONV_2D":
        _strides(raw.strideH, raw.strideW)
        _dilation(raw.dilationHFactor, raw.dilationWFactor)
        return Conv2DOptions(_padding(raw.padding), raw.strideH, raw.strideW, raw.dilationHFactor,
                             raw.dilationWFactor, _activation(raw.fusedActivationFunction))
    if name == "DEPTHWISE_CONV_2D":
        _strides(raw.strideH, raw.strideW)
        _dilation(raw.dilationHFactor, raw.dilationWFactor)
        return DepthwiseConv2DOptions(_padding(raw.padding), raw.strideH, raw.strideW, raw.dilationHFactor,
                                      raw.dilationWFactor, raw.depthMultiplier,
                                      _activation(raw.fusedActivationFunction))
    if name == "FULLY_CONNECTED":
        if raw.weightsFormat != schema.FullyConnectedOptionsWeightsFormat.DEFAULT:
            raise UnsupportedModelError("shuffled weights format (supported: DEFAULT)")
        return FullyConnectedOptions(_activation(raw.fusedActivationFunction), bool(raw.keepNumDims))
    if name == "ADD":
        return AddOptions(_activation(raw.fusedActivationFunction))
    if name in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        _strides(raw.strideH, raw.strideW)
        return Pool2DOptions(_padding(raw.padding), raw.strideH, raw.strideW, raw.filterHeight, raw.filterWidth,
                             _activation(raw.fusedActivationFunction))
    if name == "MEAN":
        axes = _constant(tensors, inputs, 1, "the axes of MEAN")
        rank = len(tensors[inputs[0]].shape)
        return MeanOptions(tuple(sorted(int(a) % rank for a in axes.ravel())), bool(raw.keepDims) if raw else False)
    if name == "PAD":
        pads = _constant(tensors, inputs, 1, "the paddings of PAD").reshape(-1, 2)
        return PadOptions(tuple((int(a), int(b)) for a, b in pads))
    if name == "SOFTMAX":
        return SoftmaxOptions(float(raw.beta))
    return NoOptions()


# -- validation of tensor types and shapes --------------------------------------------------------

def _require_int8(graph: Graph, indices: tuple[int, ...], role: str) -> None:
    for i in indices:
        t = graph.tensor(i)
        if t.dtype != "int8" or t.quantization is None:
            raise UnsupportedModelError(f"{role} tensor '{t.name}' is {t.dtype} (supported: quantized int8)")


def _require_same_quantization(graph: Graph, a: int, b: int) -> None:
    ta, tb = graph.tensor(a), graph.tensor(b)
    if (ta.scale, ta.zero_point) != (tb.scale, tb.zero_point):
        raise UnsupportedModelError(
            f"input quantization ({ta.scale}, {ta.zero_point}) differs from the output's "
            f"({tb.scale}, {tb.zero_point}) (supported: equal)")


def _validate(graph: Graph, op: Operator) -> None:
    """Tensor types and shapes the reference kernels assume (the options were checked on reading)."""
    name, opts = op.op, op.options
    for i in op.inputs + op.outputs:  # the blob's tensor records have four dimensions
        if i >= 0 and len(graph.tensor(i).shape) > 4:
            raise UnsupportedModelError(
                f"tensor '{graph.tensor(i).name}' of rank {len(graph.tensor(i).shape)} (supported: at most 4)")
    if name == "QUANTIZE":
        source = graph.tensor(op.inputs[0]).dtype
        if source == "float32" and op.inputs[0] == graph.inputs[0]:
            _require_int8(graph, op.outputs, "output")
            return
        if source != "int8":
            raise UnsupportedModelError(
                f"{source} input (supported: int8 -> int8, or float32 -> int8 of the model input)")
        _require_int8(graph, op.inputs[:1] + op.outputs, "input/output")
        return
    if name == "DEQUANTIZE":
        if op.outputs[0] not in graph.outputs:
            raise UnsupportedModelError("DEQUANTIZE inside the graph (supported: of the model output only)")
        _require_int8(graph, op.inputs[:1], "input")
        return
    activations = op.inputs[:2] if name == "ADD" else op.inputs[:1]
    _require_int8(graph, activations + op.outputs, "activation")
    if name in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
        _validate_weights(graph, op)
    if name in ("CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D"):
        if len(graph.tensor(op.inputs[0]).shape) != 4:
            raise UnsupportedModelError(f"input of rank {len(graph.tensor(op.inputs[0]).shape)} (supported: 4, NHWC)")
        if opts.padding not in ("SAME", "VALID"):
            raise UnsupportedModelError(f"padding {opts.padding} (supported: SAME, VALID)")
    if name == "DEPTHWISE_CONV_2D":
        c_in, c_out = graph.tensor(op.inputs[0]).shape[3], graph.tensor(op.outputs[0]).shape[3]
        if opts.depth_multiplier != 1 or c_out != c_in:
            multiplier = max(opts.depth_multiplier, c_out // max(c_in, 1))
            raise UnsupportedModelError(f"depth multiplier {multiplier} (supported: 1)")
    if name == "ADD" and graph.tensor(op.inputs[0]).shape != graph.tensor(op.inputs[1]).shape:
        raise UnsupportedModelError(
            f"broadcasting {list(graph.tensor(op.inputs[0]).shape)} + {list(graph.tensor(op.inputs[1]).shape)} "
            "(supported: inputs of the same shape)")
    if name in ("AVERAGE_POOL_2D", "MAX_POOL_2D", "RESHAPE", "PAD"):
        _require_same_quantization(graph, op.inputs[0], op.outputs[0])
    if name == "MEAN":
        rank = len(graph.tensor(op.inputs[0]).shape)
        if rank != 4 or opts.axes != (1, 2):
            raise UnsupportedModelError(
                f"MEAN over axes {list(opts.axes)} of a rank-{rank} tensor (supported: axes [1, 2] of NHWC)")
    if name == "PAD" and len(opts.paddings) != len(graph.tensor(op.inputs[0]).shape):
        raise UnsupportedModelError(f"{len(opts.paddings)} padding pairs for a rank-"
                                    f"{len(graph.tensor(op.inputs[0]).shape)} input")
    if name == "SOFTMAX":
        out = graph.tensor(op.outputs[0])
        if out.zero_point != -128 or abs(out.scale - 1 / 256) > 1e-9:
            raise UnsupportedModelError(
                f"output quantization ({out.scale}, {out.zero_point}) (supported: scale 1/256, zero point -128)")


def _validate_weights(graph: Graph, op: Operator) -> None:
    weights = graph.tensor(op.inputs[1])
    if weights.dtype != "int8" or weights.data is None or weights.quantization is None:
        raise UnsupportedModelError(f"weights '{weights.name}' are {weights.dtype} "
                                    f"{'constant' if weights.data is not None else 'variable'} "
                                    "(supported: constant quantized int8)")
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        bias = graph.tensor(op.inputs[2])
        if bias.dtype != "int32" or bias.data is None:
            raise UnsupportedModelError(f"bias '{bias.name}' is {bias.dtype} (supported: constant int32)")
