"""The model blob's binary format, mirroring firmware/lib/model/blob_format.h: its records as named
layouts (quantize/layout.py) and its enums.

    [BlobHeader][TensorRecord x num_tensors][OpRecord x num_ops][data section]

The CRC-32 (zlib) covers every byte after the header's crc32 field. Each op's parameter block is
defined by its op (quantize/ops/); the writer is quantize/blob.py.
"""

from __future__ import annotations

import enum

from quantize.layout import Layout

MAGIC = 0x4254434D  # "MCTB"
VERSION = 6  # 2: packed pointwise filters (TensorType.PACKED_PAIRS); 3: the training section, op records carry
# the kernels' scratch; 4: gradient filtering in the training steps; 5: MEAN's block carries its axes; 6: a training
# step names its input (TrainStep.input, CONCATENATION)
NAME_LENGTH = 16
NO_TENSOR = 0xFFFF
MAX_OP_INPUTS = 4  # CONCATENATION's inputs; the record's former reserved halfword holds the fourth

HEADER = Layout("model::BlobHeader",
                ("magic", "I"), ("version", "H"), ("header_size", "H"), ("total_size", "I"), ("crc32", "I"),
                ("name", f"{NAME_LENGTH}s"), ("num_tensors", "H"), ("num_ops", "H"), ("tensors_offset", "I"),
                ("ops_offset", "I"), ("data_offset", "I"), ("data_size", "I"), ("arena_size", "I"),
                ("input_tensor", "H"), ("output_tensor", "H"), ("trainable_offset", "I"), ("trainable_size", "I"),
                ("training_offset", "I"), ("training_size", "I"))
TENSOR = Layout("model::TensorRecord",
                ("dims", "4H"), ("type", "B"), ("location", "B"), ("reserved", "H"), ("zero_point", "i"),
                ("offset", "I"), ("size", "I"))
OP = Layout("model::OpRecord",
            ("opcode", "B"), ("num_inputs", "B"), ("output", "H"), ("inputs", f"{MAX_OP_INPUTS}H"),
            ("params_offset", "I"), ("params_size", "I"),
            ("scratch_offset", "I"), ("scratch_size", "I"))  # the kernels' scratch in the arena (quantize/scratch.py)
CRC_START = HEADER.offset("name")  # the CRC covers the bytes after crc32

assert (HEADER.size, TENSOR.size, OP.size) == (76, 24, 28)

# kernels::ActivationRange (kernel_types.h), the output clamp inside several parameter blocks.
ACTIVATION_RANGE = Layout("kernels::ActivationRange", ("min", "i"), ("max", "i"))


def dims4(shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """The 4-D dims of a tensor record for a tensor of rank <= 4 (parse_tflite refuses higher
    ranks): leading dimensions of 1."""
    return tuple([1] * (4 - len(shape)) + list(shape))


class OpCode(enum.IntEnum):
    """The firmware's opcodes (model::OpCode); each TFLite op's module (quantize/ops/) names its own."""

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
    ROW_CHAIN = 13  # convolutions run row by row, intermediates never whole (quantize/row_chain.py)
    ACTIVATION = 14  # a standalone RELU or RELU6: rescale, then clamp (quantize/ops/activation.py)
    LEAKY_RELU = 15
    CONCATENATION = 16  # inputs laid end to end along one axis (quantize/ops/concatenation.py)
    LUT = 17  # an int8 -> int8 table of 256 entries: LOGISTIC, TANH, HARD_SWISH (quantize/ops/lut.py)
    MUL = 20  # int8 MUL, one operand broadcast or the same shape (quantize/ops/mul.py)
    SUB = 21  # int8 SUB, likewise (quantize/ops/sub.py)
    SLICE = 24  # a range along one axis: STRIDED_SLICE, SPLIT, SPLIT_V (quantize/ops/strided_slice.py)


class TensorType(enum.IntEnum):
    INT8 = 0
    INT32 = 1
    PACKED_PAIRS = 2  # a pointwise CONV_2D filter in the device's layout (quantize/packing.py)
    PACKED_PAIRS_SCALED = 3  # the same, scaled for the device's one-shift ReLU output stage


class Location(enum.IntEnum):
    ARENA = 0
    DATA = 1
