"""Lowering an int8 .tflite to the firmware's model blob.

Reads the flatbuffer with tflite-micro's schema bindings, checks every op and option against what
the firmware implements, derives each op's integer parameters exactly as TFLite Micro's Prepare
functions do (per-channel multipliers and shifts, activation clamps, explicit padding, ADD's
rescaling), plans the activation arena and writes the blob (quantize/blob.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import tflite_micro.tensorflow.lite.micro.python.schema_py_generated as schema

from quantize import blob as fmt
from quantize.errors import UnsupportedModelError
from quantize.memory_plan import Buffer, MemoryPlan, plan_memory

INT8, INT32, INT64 = schema.TensorType.INT8, schema.TensorType.INT32, schema.TensorType.INT64
BUILTIN_NAMES = {code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
ACTIVATION_NAMES = {v: k for k, v in vars(schema.ActivationFunctionType).items() if not k.startswith("_")}
SUPPORTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "AVERAGE_POOL_2D", "MAX_POOL_2D",
                 "MEAN", "RESHAPE", "PAD", "SOFTMAX", "QUANTIZE", "DEQUANTIZE (at the output)")
SOFTMAX_INPUT_INTEGER_BITS = 5  # TFLite's kScaledDiffIntegerBits: exp() works on Q5.26
FLOAT32 = schema.TensorType.FLOAT32
SUPPORTED_ACTIVATIONS = ("NONE", "RELU", "RELU6")
ADD_LEFT_SHIFT = 20  # TFLite's int8 ADD scales both inputs up by 2^20 before rescaling


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


# -- TFLite's quantization arithmetic (tensorflow/lite/kernels/internal/quantization_util.cc) --

def _round_half_away(x: float) -> int:
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite's QuantizeMultiplier: real = multiplier * 2^(shift - 31), multiplier in [2^30, 2^31)."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = _round_half_away(q * (1 << 31))
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return q_fixed, shift


def mean_multiplier(real: float, count: int) -> tuple[int, int]:
    """The multiplier of real / count that TFLite's integer MEAN uses: QuantizeMultiplier(real)
    divided by count with truncation after a left shift by k = min(floor(log2 count), 32, 31 +
    shift), the shift reduced by k. Matches the pinned TFLM bit for bit."""
    multiplier, shift = quantize_multiplier(real)
    k = min(count.bit_length() - 1, 32, 31 + shift)
    return (multiplier << k) // count, shift - k


def activation_range(activation: int, scale: float, zero_point: int) -> tuple[int, int]:
    """TFLite's CalculateActivationRangeQuantized for int8 (the division is done in float32)."""
    def quantize(value: float) -> int:
        return zero_point + _round_half_away(float(np.float32(value) / np.float32(scale)))

    name = ACTIVATION_NAMES.get(activation, str(activation))
    if name == "NONE":
        return -128, 127
    if name == "RELU":
        return max(-128, quantize(0.0)), 127
    if name == "RELU6":
        return max(-128, quantize(0.0)), min(127, quantize(6.0))
    raise UnsupportedModelError(f"fused activation {name} (supported: {', '.join(SUPPORTED_ACTIVATIONS)})")


def same_padding(in_size: int, filter_size: int, stride: int, dilation: int, out_size: int) -> int:
    """TFLite's ComputePaddingHeightWidth for one dimension (the leading pad)."""
    effective = (filter_size - 1) * dilation + 1
    total = (out_size - 1) * stride + effective - in_size
    return max(total // 2, 0)


# -- the lowering ---------------------------------------------------------------------------

class _Lowering:
    def __init__(self, tflite: bytes, name: str):
        self.model = schema.ModelT.InitFromPackedBuf(tflite, 0)
        if len(self.model.subgraphs) != 1:
            raise UnsupportedModelError(f"the model has {len(self.model.subgraphs)} subgraphs; exactly 1 is supported")
        self.graph = self.model.subgraphs[0]
        self.builder = fmt.BlobBuilder(name)
        self.blob_index: dict[int, int] = {}   # TFLite tensor index -> blob tensor index
        self.aliases: dict[int, int] = {}      # RESHAPE output -> the tensor whose bytes it shares
        self.op_names: list[str] = []
        self.macs: list[int] = []

    # tensors
    def tensor(self, index: int):
        return self.graph.tensors[index]

    def quant(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        q = self.tensor(index).quantization
        if q is None or q.scale is None or len(q.scale) == 0:
            raise UnsupportedModelError(f"tensor {self._name(index)} is not quantized")
        return np.asarray(q.scale, dtype=np.float32), np.asarray(q.zeroPoint, dtype=np.int64)

    def scale_zp(self, index: int) -> tuple[float, int]:
        scale, zp = self.quant(index)
        return float(scale[0]), int(zp[0])

    def data(self, index: int) -> np.ndarray | None:
        t = self.tensor(index)
        raw = self.model.buffers[t.buffer].data if t.buffer < len(self.model.buffers) else None
        if raw is None or len(raw) == 0:
            return None
        dtype = {INT8: np.int8, INT32: np.int32, INT64: np.int64}.get(t.type)
        if dtype is None:
            raise UnsupportedModelError(f"constant tensor {self._name(index)} has unsupported type {t.type}")
        return np.frombuffer(bytes(raw), dtype=np.dtype(dtype).newbyteorder("<")).reshape(tuple(t.shape))

    def _name(self, index: int) -> str:
        return self.tensor(index).name.decode(errors="replace")

    @staticmethod
    def dims4(shape) -> tuple[int, int, int, int]:
        shape = [int(d) for d in shape]
        if len(shape) > 4:
            raise UnsupportedModelError(f"tensor of rank {len(shape)} (at most 4 supported)")
        return tuple([1] * (4 - len(shape)) + shape)

    def activation(self, index: int) -> int:
        """The blob tensor of an int8 activation, created on first use."""
        if index not in self.blob_index:
            t = self.tensor(index)
            if t.type != INT8:
                raise UnsupportedModelError(f"activation tensor {self._name(index)} is not int8 (type {t.type})")
            _, zp = self.scale_zp(index)
            self.blob_index[index] = self.builder.add_activation(self.dims4(t.shape), zp)
        return self.blob_index[index]

    def const(self, index: int, dims: tuple[int, int, int, int]) -> int:
        array = self.data(index)
        if array is None:
            raise UnsupportedModelError(f"tensor {self._name(index)} must be a constant")
        return self.builder.add_const(np.ascontiguousarray(array), dims)

    def channel_arrays(self, multipliers: list[int], shifts: list[int]) -> tuple[int, int]:
        m = self.builder.add_data(np.asarray(multipliers, dtype="<i4").tobytes())
        s = self.builder.add_data(np.asarray(shifts, dtype="<i4").tobytes())
        return m, s

    # ops
    def run(self) -> LoweredModel:
        g = self.graph
        if len(g.inputs) != 1 or len(g.outputs) != 1:
            raise UnsupportedModelError(f"the model has {len(g.inputs)} inputs and {len(g.outputs)} outputs; 1 and 1 are supported")
        # A float model's QUANTIZE of its input and DEQUANTIZE of its output are left to the host
        # (mcutrain_datasets.preprocess quantizes the input; logits are read as int8): the
        # device's input and output are the int8 tensors inside them.
        model_input, model_output = g.inputs[0], g.outputs[0]
        for op_index, op in enumerate(g.operators):
            code = self.model.operatorCodes[op.opcodeIndex]
            builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
            name = BUILTIN_NAMES.get(builtin, f"builtin {builtin}")
            if name == "QUANTIZE" and op.inputs[0] == g.inputs[0] and self.tensor(op.inputs[0]).type == FLOAT32:
                model_input = op.outputs[0]
                continue
            if name == "DEQUANTIZE" and op.outputs[0] == g.outputs[0]:
                model_output = op.inputs[0]
                continue
            handler = getattr(self, f"_op_{name.lower()}", None)
            if handler is None:
                raise UnsupportedModelError(
                    f"operator {op_index} is {name}, which the firmware does not implement "
                    f"(supported: {', '.join(SUPPORTED_OPS)})"
                )
            try:
                handler(op)
            except UnsupportedModelError as err:
                raise UnsupportedModelError(f"operator {op_index} ({name}): {err}") from None
            self.op_names.append(name)

        self.builder.input_tensor = self.activation(model_input)
        self.builder.output_tensor = self.activation(model_output)
        plan = self._plan()
        in_scale, in_zp = self.scale_zp(model_input)
        out_scale, out_zp = self.scale_zp(model_output)
        return LoweredModel(self.builder.build(), plan, self.op_names, self.macs, in_scale, in_zp, out_scale, out_zp)

    def _conv_like(self, op, depthwise: bool) -> None:
        opts = op.builtinOptions
        x, w, y = op.inputs[0], op.inputs[1], op.outputs[0]
        bias = op.inputs[2] if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
        if opts.dilationHFactor != 1 or opts.dilationWFactor != 1:
            raise UnsupportedModelError(f"dilation {opts.dilationHFactor}x{opts.dilationWFactor} (only 1 is supported)")
        if opts.strideH not in (1, 2) or opts.strideW not in (1, 2):
            raise UnsupportedModelError(f"stride {opts.strideH}x{opts.strideW} (1 or 2 supported)")
        n, h, wd, c_in = self.dims4(self.tensor(x).shape)
        _, oh, ow, c_out = self.dims4(self.tensor(y).shape)
        f_shape = [int(d) for d in self.tensor(w).shape]
        if depthwise:
            if opts.depthMultiplier != 1 or c_out != c_in:
                raise UnsupportedModelError(f"depth multiplier {c_out // max(c_in, 1)} (only 1 is supported)")
        kh, kw = f_shape[1], f_shape[2]
        if self.tensor(w).type != INT8:
            raise UnsupportedModelError("weights are not int8")
        in_scale, in_zp = self.scale_zp(x)
        out_scale, out_zp = self.scale_zp(y)
        w_scales, _ = self.quant(w)
        multipliers, shifts = [], []
        for c in range(c_out):
            effective = float(in_scale) * float(w_scales[c if len(w_scales) > 1 else 0]) / float(out_scale)
            m, s = quantize_multiplier(effective)
            multipliers.append(m)
            shifts.append(s)
        act_min, act_max = activation_range(opts.fusedActivationFunction, out_scale, out_zp)
        if opts.padding == schema.Padding.SAME:
            pad_top = same_padding(h, kh, opts.strideH, 1, oh)
            pad_left = same_padding(wd, kw, opts.strideW, 1, ow)
        else:
            pad_top = pad_left = 0
        m_off, s_off = self.channel_arrays(multipliers, shifts)
        params = fmt.CONV_PARAMS.pack(opts.strideH, opts.strideW, pad_top, pad_left, 1, 1, -in_zp, out_zp,
                                      act_min, act_max, m_off, s_off)
        inputs = [self.activation(x), self.const(w, tuple(f_shape)),
                  self.const(bias, (1, 1, 1, c_out)) if bias is not None else None]
        opcode = fmt.OpCode.DEPTHWISE_CONV_2D if depthwise else fmt.OpCode.CONV_2D
        self.builder.add_op(opcode, inputs, self.activation(y), params)
        self.macs.append(n * oh * ow * c_out * kh * kw * (1 if depthwise else c_in))

    def _op_conv_2d(self, op) -> None:
        self._conv_like(op, depthwise=False)

    def _op_depthwise_conv_2d(self, op) -> None:
        self._conv_like(op, depthwise=True)

    def _op_fully_connected(self, op) -> None:
        opts = op.builtinOptions
        x, w, y = op.inputs[0], op.inputs[1], op.outputs[0]
        bias = op.inputs[2] if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
        if opts.weightsFormat != schema.FullyConnectedOptionsWeightsFormat.DEFAULT:
            raise UnsupportedModelError("shuffled weights format")
        units, depth = (int(d) for d in self.tensor(w).shape)
        in_scale, in_zp = self.scale_zp(x)
        out_scale, out_zp = self.scale_zp(y)
        w_scales, w_zps = self.quant(w)
        if len(w_scales) > 1:
            # Per-channel: like convolutions, in double precision.
            reals = [float(in_scale) * float(s) / float(out_scale) for s in w_scales]
        else:
            # Per-tensor: TFLite multiplies the two float scales in float32 first.
            reals = [float(np.float32(in_scale) * np.float32(w_scales[0])) / float(out_scale)] * units
        pairs = [quantize_multiplier(r) for r in reals]
        act_min, act_max = activation_range(opts.fusedActivationFunction, out_scale, out_zp)
        m_off, s_off = self.channel_arrays([p[0] for p in pairs], [p[1] for p in pairs])
        params = fmt.FC_PARAMS.pack(-in_zp, -int(w_zps[0]), out_zp, act_min, act_max, m_off, s_off)
        inputs = [self.activation(x), self.const(w, (1, 1, units, depth)),
                  self.const(bias, (1, 1, 1, units)) if bias is not None else None]
        self.builder.add_op(fmt.OpCode.FULLY_CONNECTED, inputs, self.activation(y), params)
        self.macs.append(int(np.prod(self.tensor(x).shape)) // depth * units * depth)

    def _op_add(self, op) -> None:
        opts = op.builtinOptions
        a, b, y = op.inputs[0], op.inputs[1], op.outputs[0]
        if list(self.tensor(a).shape) != list(self.tensor(b).shape):
            raise UnsupportedModelError(
                f"broadcasting {list(self.tensor(a).shape)} + {list(self.tensor(b).shape)} (same shapes only)")
        s1, z1 = self.scale_zp(a)
        s2, z2 = self.scale_zp(b)
        so, zo = self.scale_zp(y)
        twice_max = 2 * float(max(np.float32(s1), np.float32(s2)))
        m1, sh1 = quantize_multiplier(float(s1) / twice_max)
        m2, sh2 = quantize_multiplier(float(s2) / twice_max)
        mo, sho = quantize_multiplier(twice_max / ((1 << ADD_LEFT_SHIFT) * float(so)))
        act_min, act_max = activation_range(opts.fusedActivationFunction, so, zo)
        params = fmt.ADD_PARAMS.pack(-z1, -z2, zo, ADD_LEFT_SHIFT, m1, sh1, m2, sh2, mo, sho, act_min, act_max)
        self.builder.add_op(fmt.OpCode.ADD, [self.activation(a), self.activation(b)], self.activation(y), params)
        self.macs.append(0)

    def _pool(self, op, opcode: fmt.OpCode) -> None:
        opts = op.builtinOptions
        x, y = op.inputs[0], op.outputs[0]
        if self.scale_zp(x) != self.scale_zp(y):
            raise UnsupportedModelError("input and output quantization differ")
        _, h, w, _ = self.dims4(self.tensor(x).shape)
        _, oh, ow, _ = self.dims4(self.tensor(y).shape)
        if opts.padding == schema.Padding.SAME:
            pad_top = same_padding(h, opts.filterHeight, opts.strideH, 1, oh)
            pad_left = same_padding(w, opts.filterWidth, opts.strideW, 1, ow)
        else:
            pad_top = pad_left = 0
        so, zo = self.scale_zp(y)
        act_min, act_max = activation_range(opts.fusedActivationFunction, so, zo)
        params = fmt.POOL_PARAMS.pack(opts.strideH, opts.strideW, opts.filterHeight, opts.filterWidth,
                                      pad_top, pad_left, act_min, act_max)
        self.builder.add_op(opcode, [self.activation(x)], self.activation(y), params)
        self.macs.append(0)

    def _op_average_pool_2d(self, op) -> None:
        self._pool(op, fmt.OpCode.AVERAGE_POOL_2D)

    def _op_max_pool_2d(self, op) -> None:
        self._pool(op, fmt.OpCode.MAX_POOL_2D)

    def _op_mean(self, op) -> None:
        x, axis, y = op.inputs[0], op.inputs[1], op.outputs[0]
        axes = self.data(axis)
        rank = len(self.tensor(x).shape)
        if rank != 4 or axes is None or sorted(int(a) % 4 for a in axes.ravel()) != [1, 2]:
            raise UnsupportedModelError(
                f"MEAN over axes {None if axes is None else axes.ravel().tolist()} of a rank-{rank} tensor "
                "(only over H and W of NHWC is supported)")
        si, zi = self.scale_zp(x)
        so, zo = self.scale_zp(y)
        m, s = mean_multiplier(float(si) / float(so), int(self.tensor(x).shape[1] * self.tensor(x).shape[2]))
        params = fmt.MEAN_PARAMS.pack(zi, zo, m, s)
        self.builder.add_op(fmt.OpCode.MEAN, [self.activation(x)], self.activation(y), params)
        self.macs.append(0)

    def _op_reshape(self, op) -> None:
        x, y = op.inputs[0], op.outputs[0]
        if self.scale_zp(x) != self.scale_zp(y):
            raise UnsupportedModelError("input and output quantization differ")
        self.aliases[y] = x
        self.builder.add_op(fmt.OpCode.RESHAPE, [self.activation(x)], self.activation(y))
        self.macs.append(0)

    def _op_pad(self, op) -> None:
        x, paddings, y = op.inputs[0], op.inputs[1], op.outputs[0]
        pads = self.data(paddings)
        if pads is None:
            raise UnsupportedModelError("paddings must be a constant")
        pads = pads.reshape(-1, 2).astype(np.int64)
        pads = np.concatenate([np.zeros((4 - len(pads), 2), dtype=np.int64), pads])
        _, zo = self.scale_zp(y)
        if self.scale_zp(x) != self.scale_zp(y):
            raise UnsupportedModelError("input and output quantization differ")
        params = fmt.PAD_PARAMS.pack(*pads[:, 0].tolist(), *pads[:, 1].tolist(), zo)
        self.builder.add_op(fmt.OpCode.PAD, [self.activation(x)], self.activation(y), params)
        self.macs.append(0)

    def _op_softmax(self, op) -> None:
        x, y = op.inputs[0], op.outputs[0]
        so, zo = self.scale_zp(y)
        if zo != -128 or abs(so - 1 / 256) > 1e-9:
            raise UnsupportedModelError(f"int8 output quantization {so}, {zo} (TFLite requires 1/256, -128)")
        si, _ = self.scale_zp(x)
        bits = SOFTMAX_INPUT_INTEGER_BITS
        # PreprocessSoftmaxScaling (double rounding build) and CalculateInputRadius.
        real = min(float(np.float32(op.builtinOptions.beta)) * float(si) * (1 << (31 - bits)), (1 << 31) - 1.0)
        multiplier, left_shift = quantize_multiplier(real)
        radius = math.floor(((1 << bits) - 1) * (1 << (31 - bits)) / (1 << left_shift))
        params = fmt.SOFTMAX_PARAMS.pack(multiplier, left_shift, -radius)
        self.builder.add_op(fmt.OpCode.SOFTMAX, [self.activation(x)], self.activation(y), params)
        self.macs.append(0)

    def _op_quantize(self, op) -> None:
        x, y = op.inputs[0], op.outputs[0]
        if self.tensor(x).type != INT8 or self.tensor(y).type != INT8:
            raise UnsupportedModelError("only int8 -> int8 inside the graph (float -> int8 only at the model input)")
        si, zi = self.scale_zp(x)
        so, zo = self.scale_zp(y)
        m, s = quantize_multiplier(float(si) / float(so))
        params = fmt.REQUANTIZE_PARAMS.pack(zi, zo, m, s)
        self.builder.add_op(fmt.OpCode.REQUANTIZE, [self.activation(x)], self.activation(y), params)
        self.macs.append(0)

    # memory
    def _plan(self) -> MemoryPlan:
        """Lifetimes of the arena tensors (a RESHAPE's output shares its input's buffer)."""
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
        buffers = [Buffer(f"t{r}", size[r], first.get(r, -1), last.get(r, num_ops)) for r in size]
        plan = plan_memory(buffers)
        for t, rec in enumerate(self.builder.tensors):
            if rec.location == fmt.Location.ARENA:
                rec.offset = plan.offsets[f"t{find(t)}"]
        self.builder.arena_size = plan.arena_size
        return plan


def lower_tflite(tflite: bytes, name: str) -> LoweredModel:
    """Validates `tflite` and returns its blob; raises UnsupportedModelError naming the op at fault."""
    return _Lowering(tflite, name).run()
