"""Lowering an int8 .tflite to the firmware's model blob.

Reads the flatbuffer with tflite-micro's schema bindings, checks every op and option against what
the firmware implements, derives each op's integer parameters exactly as TFLite Micro's Prepare
functions do (per-channel multipliers and shifts, activation clamps, explicit padding, ADD's
rescaling), plans the activation arena and writes the blob (quantize/blob.py).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field

import numpy as np
import tflite_micro.tensorflow.lite.micro.python.schema_py_generated as schema

from quantize import blob as fmt
from quantize import requant
from quantize.requant import (
    ADD_LEFT_SHIFT,
    SOFTMAX_INPUT_INTEGER_BITS,
    SUPPORTED_ACTIVATIONS,
    mean_multiplier,
    quantize_multiplier,
)
from quantize.errors import UnsupportedModelError
from quantize.memory_plan import Buffer, MemoryPlan, plan_memory

INT8, INT32, INT64 = schema.TensorType.INT8, schema.TensorType.INT32, schema.TensorType.INT64
BUILTIN_NAMES = {code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
ACTIVATION_NAMES = {v: k for k, v in vars(schema.ActivationFunctionType).items() if not k.startswith("_")}
SUPPORTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "AVERAGE_POOL_2D", "MAX_POOL_2D",
                 "MEAN", "RESHAPE", "PAD", "SOFTMAX", "QUANTIZE", "DEQUANTIZE (at the output)")
FLOAT32 = schema.TensorType.FLOAT32


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

def activation_range(activation: int, scale: float, zero_point: int) -> tuple[int, int]:
    """The int8 clamp of a fused activation given by its schema code."""
    name = ACTIVATION_NAMES.get(activation, str(activation))
    if name not in SUPPORTED_ACTIVATIONS:
        raise UnsupportedModelError(f"fused activation {name} (supported: {', '.join(SUPPORTED_ACTIVATIONS)})")
    return requant.activation_range(name, scale, zero_point)


def same_padding(in_size: int, filter_size: int, stride: int, dilation: int, out_size: int) -> int:
    """TFLite's ComputePaddingHeightWidth for one dimension (the leading pad)."""
    effective = (filter_size - 1) * dilation + 1
    total = (out_size - 1) * stride + effective - in_size
    return max(total // 2, 0)


# -- the lowering ---------------------------------------------------------------------------

# Activation SRAM a model may plan before its inverted-residual blocks are row-streamed
# (firmware/lib/model/fused_block.h); the target for mbv2-w0.35-128 inference.
ACTIVATION_BUDGET = 128 * 1024
STREAM_POLICIES = ("auto", "all", "none")


@dataclass
class _ConvParts:
    params: bytes
    filter: int
    bias: int | None
    macs: int


@dataclass
class _Block:
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

class _Lowering:
    def __init__(self, tflite: bytes, name: str, fuse: bool = False):
        self.model = schema.ModelT.InitFromPackedBuf(tflite, 0)
        if len(self.model.subgraphs) != 1:
            raise UnsupportedModelError(f"the model has {len(self.model.subgraphs)} subgraphs; exactly 1 is supported")
        self.graph = self.model.subgraphs[0]
        self.builder = fmt.BlobBuilder(name)
        self.blob_index: dict[int, int] = {}   # TFLite tensor index -> blob tensor index
        self.aliases: dict[int, int] = {}      # RESHAPE output -> the tensor whose bytes it shares
        self.op_names: list[str] = []
        self.macs: list[int] = []
        self.fuse = fuse
        self.scratch: list[tuple[int, int, int]] = []  # (blob op, params offset of the field, bytes)

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
        blocks = self.find_blocks() if self.fuse else []
        block_at = {b.members[-1]: b for b in blocks}  # emitted where its last member was
        fused_members = {i for b in blocks for i in b.members}
        for op_index, op in enumerate(g.operators):
            name = self.op_name(op_index)
            if op_index in block_at:
                self._fused_block(block_at[op_index])
                self.op_names.append("INVERTED_RESIDUAL")
                continue
            if op_index in fused_members:
                continue
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
        self.builder.trainable = self._head_region()
        in_scale, in_zp = self.scale_zp(model_input)
        out_scale, out_zp = self.scale_zp(model_output)
        return LoweredModel(self.builder.build(), plan, self.op_names, self.macs, in_scale, in_zp, out_scale, out_zp)

    def _head_region(self) -> tuple[int, int]:
        """The trainable region: (offset, size) in the data section of the classifier head, the
        last FULLY_CONNECTED's int8 weights and its int32 bias if any (stored back to back by
        _op_fully_connected). The device keeps this region in SRAM, checkpoints carry it, and
        RESET_PARAMS copies it back from flash. (0, 0) when the model has no such head."""
        heads = [op for op in self.builder.ops if op.opcode == fmt.OpCode.FULLY_CONNECTED]
        if not heads:
            return (0, 0)
        params = [self.builder.tensors[i] for i in heads[-1].inputs[1:3] if i is not None]
        return (params[0].offset, params[-1].offset + params[-1].size - params[0].offset)

    def op_name(self, op_index: int) -> str:
        code = self.model.operatorCodes[self.graph.operators[op_index].opcodeIndex]
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        return BUILTIN_NAMES.get(builtin, f"builtin {builtin}")

    def find_blocks(self) -> list[_Block]:
        """Inverted-residual blocks: [CONV_2D 1x1 s1 ->] DEPTHWISE_CONV_2D -> CONV_2D 1x1 s1
        [-> ADD with the block input], each intermediate read by the next member only."""
        ops = self.graph.operators
        consumers: dict[int, list[int]] = {}
        producer: dict[int, int] = {}
        for i, op in enumerate(ops):
            for t in op.inputs:
                if t >= 0:
                    consumers.setdefault(t, []).append(i)
            for t in op.outputs:
                producer[t] = i
        outputs = set(self.graph.outputs)

        def only_consumer(tensor: int) -> int | None:
            users = consumers.get(tensor, [])
            return users[0] if len(users) == 1 and tensor not in outputs else None

        def is_pointwise(i: int) -> bool:
            op = ops[i]
            shape = self.tensor(op.inputs[1]).shape
            return (self.op_name(i) == "CONV_2D" and shape[1] == 1 and shape[2] == 1
                    and op.builtinOptions.strideH == 1 and op.builtinOptions.strideW == 1)

        blocks = []
        for d, op in enumerate(ops):
            if self.op_name(d) != "DEPTHWISE_CONV_2D" or self.dims4(self.tensor(op.inputs[0]).shape)[0] != 1:
                continue
            project = only_consumer(op.outputs[0])
            if project is None or not is_pointwise(project):
                continue
            expand = producer.get(op.inputs[0])
            if expand is None or not is_pointwise(expand) or only_consumer(ops[expand].outputs[0]) != d:
                expand = None
            block_input = ops[expand].inputs[0] if expand is not None else op.inputs[0]
            add = only_consumer(ops[project].outputs[0])
            if add is not None and not (self.op_name(add) == "ADD" and block_input in ops[add].inputs):
                add = None
            output = ops[add].outputs[0] if add is not None else ops[project].outputs[0]
            blocks.append(_Block(expand, d, project, add, block_input, output))
        return blocks

    def _fused_block(self, block: _Block) -> None:
        ops = self.graph.operators
        expand = self._conv_parts(ops[block.expand], depthwise=False) if block.expand is not None else None
        dw = self._conv_parts(ops[block.depthwise], depthwise=True)
        project = self._conv_parts(ops[block.project], depthwise=False)
        no_params = fmt.CONV_PARAMS.pack(*([0] * 12))
        residual, add_params = 0, fmt.ADD_PARAMS.pack(*([0] * 12))
        if block.add is not None:
            residual = 1 if ops[block.add].inputs[0] == block.input else 2
            add_params = self._add_params(ops[block.add])
        none = fmt.NO_TENSOR
        _, h, w, c_in = self.dims4(self.tensor(block.input).shape)
        dw_in = self.dims4(self.tensor(ops[block.depthwise].inputs[0]).shape)
        dw_out = self.dims4(self.tensor(ops[block.depthwise].outputs[0]).shape)
        kh = int(self.tensor(ops[block.depthwise].inputs[1]).shape[1])
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
            self.scratch.append((op_index, tail, kh * w * expanded_c))  # window of expanded rows
        self.scratch.append((op_index, tail + 4, dw_out[2] * expanded_c))  # one depthwise row
        self.macs.append((expand.macs if expand else 0) + dw.macs + project.macs)

    def _conv_like(self, op, depthwise: bool) -> None:
        parts = self._conv_parts(op, depthwise)
        opcode = fmt.OpCode.DEPTHWISE_CONV_2D if depthwise else fmt.OpCode.CONV_2D
        self.builder.add_op(opcode, [self.activation(op.inputs[0]), parts.filter, parts.bias],
                            self.activation(op.outputs[0]), parts.params)
        self.macs.append(parts.macs)

    def _conv_parts(self, op, depthwise: bool) -> "_ConvParts":
        """Validates a CONV_2D / DEPTHWISE_CONV_2D and returns its parameter block and constants."""
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
        return _ConvParts(
            params=params,
            filter=self.const(w, tuple(f_shape)),
            bias=self.const(bias, (1, 1, 1, c_out)) if bias is not None else None,
            macs=n * oh * ow * c_out * kh * kw * (1 if depthwise else c_in),
        )

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
        a, b, y = op.inputs[0], op.inputs[1], op.outputs[0]
        self.builder.add_op(fmt.OpCode.ADD, [self.activation(a), self.activation(b)], self.activation(y),
                            self._add_params(op))
        self.macs.append(0)

    def _add_params(self, op) -> bytes:
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
        return fmt.ADD_PARAMS.pack(-z1, -z2, zo, ADD_LEFT_SHIFT, m1, sh1, m2, sh2, mo, sho, act_min, act_max)

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
        buffers += [Buffer(f"scratch{k}", nbytes, op, op) for k, (op, _, nbytes) in enumerate(self.scratch)]
        plan = plan_memory(buffers)
        for k, (_, field, _) in enumerate(self.scratch):
            struct.pack_into("<I", self.builder.data, field, plan.offsets[f"scratch{k}"])
        for t, rec in enumerate(self.builder.tensors):
            if rec.location == fmt.Location.ARENA:
                rec.offset = plan.offsets[f"t{find(t)}"]
        self.builder.arena_size = plan.arena_size
        return plan


def lower_tflite(tflite: bytes, name: str, stream: str = "auto", budget: int = ACTIVATION_BUDGET) -> LoweredModel:
    """Validates `tflite` and returns its blob; raises UnsupportedModelError naming the op at fault.

    stream: "none" runs every op on whole tensors; "all" row-streams every inverted-residual
    block; "auto" (default) streams only when the whole-tensor plan needs more than `budget`
    bytes of arena, so small models keep one blob op per TFLite op.
    """
    if stream not in STREAM_POLICIES:
        raise ValueError(f"stream policy {stream!r}, expected one of {', '.join(STREAM_POLICIES)}")
    lowered = _Lowering(tflite, name, fuse=stream == "all").run()
    if stream == "auto" and lowered.plan.arena_size > budget:
        lowered = _Lowering(tflite, name, fuse=True).run()
    return lowered
