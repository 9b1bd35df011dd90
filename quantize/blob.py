"""The model blob writer. The binary layout is defined by firmware/lib/model/blob_format.h; the
struct formats below mirror it field by field (firmware/lib/model/blob_layout.cpp asserts every
field's offset, which tests/test_param_layout.py checks against these formats).

    [header][tensor records][op records][data section: weights, biases, op parameters]

The CRC-32 (zlib) covers every byte after the header's crc field.
"""

from __future__ import annotations

import enum
import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

from quantize.packing import packed_pairs_bytes

MAGIC = 0x4254434D  # "MCTB"
VERSION = 3  # 2: packed pointwise filters (TensorType.PACKED_PAIRS); 3: the training section, op records carry
# the kernels' scratch
NAME_LENGTH = 16
NO_TENSOR = 0xFFFF
MAX_OP_INPUTS = 3

HEADER = struct.Struct("<IHHII16sHHIIIIIHHIIII")
TENSOR = struct.Struct("<4HBBHiII")
OP = struct.Struct("<BBH3HHIIII")  # ..., params offset and size, scratch offset (in the arena) and size
CRC_START = 16  # offsetof(BlobHeader, name)

# Parameter blocks, one per op kind (blob_format.h / the kernels' *Params structs).
CONV_PARAMS = struct.Struct("<10i2I")      # ConvOpParams: ConvParams + multiplier/shift offsets
FC_PARAMS = struct.Struct("<5i2I")         # FullyConnectedOpParams
ADD_PARAMS = struct.Struct("<12i")         # kernels::AddParams
POOL_PARAMS = struct.Struct("<8i")         # kernels::PoolParams
MEAN_PARAMS = struct.Struct("<4i")         # kernels::MeanParams
PAD_PARAMS = struct.Struct("<9i")          # kernels::PadParams
REQUANTIZE_PARAMS = struct.Struct("<4i")   # kernels::RequantizeParams
SOFTMAX_PARAMS = struct.Struct("<3i")      # kernels::SoftmaxParams
# InvertedResidualParams = 3 x ConvOpParams + AddParams + this tail: six tensor indices,
# has_expand, residual, then window_offset and row_offset (patched after memory planning).
FUSED_TAIL = struct.Struct("<8H2I")

assert (HEADER.size, TENSOR.size, OP.size) == (76, 24, 28)
assert (CONV_PARAMS.size, FC_PARAMS.size, ADD_PARAMS.size) == (48, 28, 48)
assert (POOL_PARAMS.size, MEAN_PARAMS.size, PAD_PARAMS.size) == (32, 16, 36)
assert 3 * CONV_PARAMS.size + ADD_PARAMS.size + FUSED_TAIL.size == 216


class OpCode(enum.IntEnum):
    CONV_2D = 1
    DEPTHWISE_CONV_2D = 2
    FULLY_CONNECTED = 3
    ADD = 4
    AVERAGE_POOL_2D = 5
    MAX_POOL_2D = 6
    MEAN = 7
    RESHAPE = 8
    PAD = 9
    REQUANTIZE = 10  # TFLite QUANTIZE int8 -> int8
    SOFTMAX = 11
    INVERTED_RESIDUAL = 12  # fused, row-streamed MobileNetV2 block


class TensorType(enum.IntEnum):
    INT8 = 0
    INT32 = 1
    PACKED_PAIRS = 2  # a pointwise CONV_2D filter in the device's layout (quantize/packing.py)
    PACKED_PAIRS_SCALED = 3  # the same, scaled for the device's one-shift ReLU output stage


class Location(enum.IntEnum):
    ARENA = 0
    DATA = 1


@dataclass
class BlobTensor:
    dims: tuple[int, int, int, int]
    dtype: TensorType
    zero_point: int
    location: Location
    offset: int = 0  # arena offset (set from the memory plan) or data offset (set by the builder)

    @property
    def size(self) -> int:
        if self.dtype in (TensorType.PACKED_PAIRS, TensorType.PACKED_PAIRS_SCALED):
            return packed_pairs_bytes(self.dims[0], self.dims[3])
        return int(np.prod(self.dims)) * (4 if self.dtype == TensorType.INT32 else 1)


@dataclass
class BlobOp:
    opcode: OpCode
    inputs: list[int | None]
    output: int
    params_offset: int = 0
    params_size: int = 0
    scratch_offset: int = 0  # the kernels' scratch in the arena (quantize/scratch.py), planned with the tensors
    scratch_size: int = 0


@dataclass
class BlobBuilder:
    """Accumulates tensors, ops and data, then serialises them (build)."""

    name: str
    tensors: list[BlobTensor] = field(default_factory=list)
    ops: list[BlobOp] = field(default_factory=list)
    data: bytearray = field(default_factory=bytearray)
    arena_size: int = 0
    input_tensor: int = 0
    output_tensor: int = 0
    # The trainable constants (tensor index, bytes): build() places them together at the end of the
    # data section, the region the device copies to SRAM, updates and checkpoints.
    trainable_data: list[tuple[int, bytes]] = field(default_factory=list)
    # The training section (quantize/training/lowering.py): its offset in the data section and size.
    training: tuple[int, int] = (0, 0)

    def add_data(self, payload: bytes, align: int = 4) -> int:
        """Appends bytes to the data section; returns their offset."""
        self.data.extend(b"\0" * (-len(self.data) % align))
        offset = len(self.data)
        self.data.extend(payload)
        return offset

    def add_const(self, array: np.ndarray, dims: tuple[int, int, int, int], zero_point: int = 0,
                  dtype: TensorType | None = None, trainable: bool = False) -> int:
        """A constant tensor; its type follows the array's (int8, int32) unless given (PACKED_PAIRS).
        A trainable one is placed in the trainable region (see trainable_data)."""
        if dtype is None:
            dtype = {np.dtype(np.int8): TensorType.INT8, np.dtype(np.int32): TensorType.INT32}[array.dtype]
        tensor = BlobTensor(tuple(int(d) for d in dims), dtype, int(zero_point), Location.DATA)
        if tensor.size != array.nbytes:
            raise ValueError(f"constant of {array.nbytes} bytes does not match dims {dims}")
        payload = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()
        self.tensors.append(tensor)
        if trainable:
            self.trainable_data.append((len(self.tensors) - 1, payload))
        else:
            tensor.offset = self.add_data(payload)
        return len(self.tensors) - 1

    def add_activation(self, dims: tuple[int, int, int, int], zero_point: int) -> int:
        self.tensors.append(BlobTensor(tuple(int(d) for d in dims), TensorType.INT8, int(zero_point), Location.ARENA))
        return len(self.tensors) - 1

    def add_op(self, opcode: OpCode, inputs: list[int | None], output: int, params: bytes = b"") -> int:
        op = BlobOp(opcode, list(inputs), output)
        if params:
            op.params_offset = self.add_data(params)
            op.params_size = len(params)
        self.ops.append(op)
        return len(self.ops) - 1

    def _data_section(self) -> tuple[bytes, tuple[int, int]]:
        """The data section with the trainable constants placed last, and their (offset, size)."""
        if not self.trainable_data:
            return bytes(self.data), (0, 0)
        data = bytearray(self.data)
        data.extend(b"\0" * (-len(data) % 16))
        start = len(data)
        for index, payload in self.trainable_data:
            data.extend(b"\0" * (-len(data) % 4))
            self.tensors[index].offset = len(data)
            data.extend(payload)
        return bytes(data), (start, len(data) - start)

    def build(self) -> bytes:
        data, trainable = self._data_section()
        name = self.name.encode()[:NAME_LENGTH]
        tensors_offset = HEADER.size + (-HEADER.size % 4)
        ops_offset = tensors_offset + TENSOR.size * len(self.tensors)
        data_offset = ops_offset + OP.size * len(self.ops)
        data_offset += -data_offset % 16
        total = data_offset + len(data)

        body = bytearray(total)
        for i, t in enumerate(self.tensors):
            TENSOR.pack_into(body, tensors_offset + i * TENSOR.size, *t.dims, t.dtype, t.location, 0, t.zero_point, t.offset, t.size)
        for i, op in enumerate(self.ops):
            inputs = [NO_TENSOR if x is None else x for x in op.inputs] + [NO_TENSOR] * (MAX_OP_INPUTS - len(op.inputs))
            OP.pack_into(body, ops_offset + i * OP.size, op.opcode, len(op.inputs), op.output, *inputs, 0,
                         op.params_offset, op.params_size, op.scratch_offset, op.scratch_size)
        body[data_offset:] = data
        HEADER.pack_into(
            body, 0, MAGIC, VERSION, HEADER.size, total, 0, name, len(self.tensors), len(self.ops),
            tensors_offset, ops_offset, data_offset, len(data), self.arena_size,
            self.input_tensor, self.output_tensor, *trainable, *self.training,
        )
        crc = zlib.crc32(bytes(body[CRC_START:]))
        struct.pack_into("<I", body, 12, crc)
        return bytes(body)


def read_header(blob: bytes) -> dict:
    """Decodes a blob's header (for tools and tests)."""
    fields = HEADER.unpack_from(blob, 0)
    keys = ("magic", "version", "header_size", "total_size", "crc32", "name", "num_tensors", "num_ops",
            "tensors_offset", "ops_offset", "data_offset", "data_size", "arena_size", "input_tensor",
            "output_tensor", "trainable_offset", "trainable_size", "training_offset", "training_size")
    header = dict(zip(keys, fields))
    header["name"] = header["name"].rstrip(b"\0").decode()
    return header
