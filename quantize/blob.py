"""The model blob writer. The binary layout is defined by firmware/lib/model/blob_format.h and
mirrored, record by record and field by field, in quantize/blob_format.py; each op's parameter block
is its op module's (quantize/ops/), re-exported here under the names it always had:

    [header][tensor records][op records][data section: weights, biases, op parameters]

The CRC-32 (zlib) covers every byte after the header's crc field.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

from quantize.blob_format import (  # noqa: F401  (re-exported: the format's names, as before)
    ACTIVATION_RANGE,
    CRC_START,
    HEADER,
    MAGIC,
    MAX_OP_INPUTS,
    NAME_LENGTH,
    NO_TENSOR,
    OP,
    TENSOR,
    VERSION,
    Location,
    OpCode,
    TensorType,
)
from quantize.fused_block import FUSED_TAIL, INVERTED_RESIDUAL_PARAMS  # noqa: F401
from quantize.ops.activation import ACTIVATION_PARAMS  # noqa: F401
from quantize.ops.add import ADD_PARAMS  # noqa: F401
from quantize.ops.concatenation import CONCATENATION_PARAMS  # noqa: F401
from quantize.ops.leaky_relu import LEAKY_RELU_PARAMS  # noqa: F401  (the parameter blocks under their old names)
from quantize.ops.lut import LUT_PARAMS  # noqa: F401
from quantize.ops.mul import MUL_PARAMS  # noqa: F401
from quantize.ops.strided_slice import SLICE_PARAMS  # noqa: F401
from quantize.ops.conv_common import CONV_OP_PARAMS as CONV_PARAMS  # noqa: F401
from quantize.ops.conv_common import KERNEL_CONV_PARAMS  # noqa: F401
from quantize.ops.fully_connected import FC_OP_PARAMS as FC_PARAMS  # noqa: F401
from quantize.ops.fully_connected import KERNEL_FC_PARAMS  # noqa: F401
from quantize.ops.mean import MEAN_PARAMS  # noqa: F401
from quantize.ops.pad import PAD_PARAMS  # noqa: F401
from quantize.ops.pool import POOL_PARAMS  # noqa: F401
from quantize.ops.requantize import REQUANTIZE_PARAMS  # noqa: F401
from quantize.ops.softmax import SOFTMAX_PARAMS  # noqa: F401
from quantize.packing import packed_pairs_bytes


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
            at = tensors_offset + i * TENSOR.size
            body[at:at + TENSOR.size] = TENSOR.pack_fields({
                "dims": t.dims, "type": t.dtype, "location": t.location, "reserved": 0, "zero_point": t.zero_point,
                "offset": t.offset, "size": t.size})
        for i, op in enumerate(self.ops):
            inputs = [NO_TENSOR if x is None else x for x in op.inputs] + [NO_TENSOR] * (MAX_OP_INPUTS - len(op.inputs))
            at = ops_offset + i * OP.size
            body[at:at + OP.size] = OP.pack_fields({
                "opcode": op.opcode, "num_inputs": len(op.inputs), "output": op.output, "inputs": inputs,
                "params_offset": op.params_offset, "params_size": op.params_size,
                "scratch_offset": op.scratch_offset, "scratch_size": op.scratch_size})
        body[data_offset:] = data
        body[:HEADER.size] = HEADER.pack_fields({
            "magic": MAGIC, "version": VERSION, "header_size": HEADER.size, "total_size": total, "crc32": 0,
            "name": name, "num_tensors": len(self.tensors), "num_ops": len(self.ops),
            "tensors_offset": tensors_offset, "ops_offset": ops_offset, "data_offset": data_offset,
            "data_size": len(data), "arena_size": self.arena_size, "input_tensor": self.input_tensor,
            "output_tensor": self.output_tensor, "trainable_offset": trainable[0], "trainable_size": trainable[1],
            "training_offset": self.training[0], "training_size": self.training[1]})
        crc = zlib.crc32(bytes(body[CRC_START:]))
        struct.pack_into("<I", body, HEADER.offset("crc32"), crc)
        return bytes(body)


def read_header(blob: bytes) -> dict:
    """Decodes a blob's header (for tools and tests)."""
    header = dict(zip(HEADER.names, HEADER.unpack_from(blob, 0)))
    header["name"] = header["name"].rstrip(b"\0").decode()
    return header
