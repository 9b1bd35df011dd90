"""The firmware validates a model blob at boot and refuses a bad one with a clear message.

The blob here is built by hand (one FULLY_CONNECTED op), so this checks the format and the
validator independently of the TFLite import; tests/test_forward_fidelity.py checks the maths.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from host_tools.errors import EmulatorError
from host_tools.model_runner import ModelRunner, runner_flags
from quantize import blob as fmt
from quantize import packing, scratch

pytestmark = [pytest.mark.emulator, pytest.mark.slow]


def _fc_blob(name: str = "fc-test") -> bytes:
    b = fmt.BlobBuilder(name)
    x = b.add_activation((1, 1, 1, 8), zero_point=-3)
    w = b.add_const(np.arange(-16, 16, dtype=np.int8).reshape(4, 8), (1, 1, 4, 8))
    bias = b.add_const(np.array([100, -100, 0, 7], dtype=np.int32), (1, 1, 1, 4))
    y = b.add_activation((1, 1, 1, 4), zero_point=5)
    multipliers = b.add_data(np.full(4, 1 << 30, dtype="<i4").tobytes())
    shifts = b.add_data(np.full(4, -6, dtype="<i4").tobytes())
    params = fmt.FC_PARAMS.pack(3, 0, 5, -128, 127, multipliers, shifts)
    b.add_op(fmt.OpCode.FULLY_CONNECTED, [x, w, bias], y, params)
    b.tensors[x].offset, b.tensors[y].offset = 0, 16
    b.arena_size = 32
    b.input_tensor, b.output_tensor = x, y
    return b.build()


SHIFTS = np.array([-6, -6, -7, -5])  # per channel: a scaled filter's d are then 2, 2, 1, 3


def _pointwise_blob(filter_type: fmt.TensorType, bias_value: int = 100, output_zero_point: int = 5,
                    exponents: np.ndarray | None = None, packed_zero_point: int | None = None) -> bytes:
    """One 1x1 CONV_2D, 8 -> 4 channels over 3 pixels, its filter int8, packed, or packed and
    scaled (by `exponents`); the packed constants computed for packed_zero_point if given."""
    b = fmt.BlobBuilder("pw-test")
    x = b.add_activation((1, 1, 3, 8), zero_point=-3)
    weights = np.arange(-16, 16, dtype=np.int8).reshape(4, 1, 1, 8) * 3
    bias_values = np.array([bias_value, -100, 0, 7], dtype=np.int32)
    if filter_type == fmt.TensorType.INT8:
        w = b.add_const(weights, (4, 1, 1, 8))
    else:
        zero_point = output_zero_point if packed_zero_point is None else packed_zero_point
        packed = packing.pack_pairs(weights, SHIFTS, np.full(4, 1 << 30), zero_point, -128, 127, bias_values,
                                    exponents)
        w = b.add_const(packed, (4, 1, 1, 8), dtype=filter_type)
    bias = b.add_const(bias_values, (1, 1, 1, 4))
    y = b.add_activation((1, 1, 3, 4), zero_point=output_zero_point)
    multipliers = b.add_data(np.full(4, 1 << 30, dtype="<i4").tobytes())
    shifts = b.add_data(SHIFTS.astype("<i4").tobytes())
    params = fmt.CONV_PARAMS.pack(1, 1, 0, 0, 1, 1, 3, output_zero_point, -128, 127, multipliers, shifts)
    op = b.ops[b.add_op(fmt.OpCode.CONV_2D, [x, w, bias], y, params)]
    b.tensors[x].offset, b.tensors[y].offset = 0, 32
    op.scratch_offset, op.scratch_size = 48, scratch.op_scratch_bytes(b, op)  # the kernel's, after the tensors
    b.arena_size = 48 + op.scratch_size
    b.input_tensor, b.output_tensor = x, y
    return b.build()


def _recrc(blob: bytearray) -> bytes:
    struct.pack_into("<I", blob, 12, zlib.crc32(bytes(blob[fmt.CRC_START:])))
    return bytes(blob)


def _corrupt_data_byte(blob: bytes) -> bytes:
    damaged = bytearray(blob)
    damaged[-1] ^= 0x40  # one bit of the data section; CRC left as it was
    return bytes(damaged)


def _bad_magic(blob: bytes) -> bytes:
    damaged = bytearray(blob)
    damaged[0:4] = b"XXXX"
    return bytes(damaged)


def _future_version(blob: bytes) -> bytes:
    damaged = bytearray(blob)
    struct.pack_into("<H", damaged, 4, fmt.VERSION + 1)
    return _recrc(damaged)


def _tensor_outside_arena(blob: bytes) -> bytes:
    # A well-formed, correctly checksummed blob whose output tensor lies beyond the arena.
    damaged = bytearray(blob)
    header = fmt.read_header(blob)
    record = header["tensors_offset"] + 3 * fmt.TENSOR.size
    struct.pack_into("<I", damaged, record + 16, header["arena_size"])  # TensorRecord.offset
    return _recrc(damaged)


def _wrong_params_size(blob: bytes) -> bytes:
    damaged = bytearray(blob)
    header = fmt.read_header(blob)
    struct.pack_into("<I", damaged, header["ops_offset"] + 16, fmt.FC_PARAMS.size - 4)  # OpRecord.params_size
    return _recrc(damaged)


@pytest.fixture(scope="module")
def runner_image(firmware):
    return firmware.get("qemu-m7", *runner_flags("qemu-m7")).elf


def test_valid_blob_is_accepted(runner_image):
    blob = _fc_blob()
    with ModelRunner("qemu-m7", runner_image, blob) as runner:
        assert runner.info["name"] == "fc-test"
        assert (runner.info["input"], runner.info["output"], runner.info["ops"]) == ("8", "4", "1")
        result = runner.invoke(np.arange(8, dtype=np.int8))
    assert result.output.shape == (4,)
    assert len(result.op_ticks) == 1 and result.op_ticks[0] > 0


@pytest.mark.parametrize(
    "damage, reason",
    [
        (_corrupt_data_byte, "CRC mismatch"),
        (_bad_magic, "bad magic"),
        (_future_version, "unsupported blob version"),
        (_tensor_outside_arena, "invalid tensor"),
        (_wrong_params_size, "invalid operator"),
    ],
)
def test_bad_blob_is_refused_at_boot_with_its_reason(runner_image, damage, reason):
    with pytest.raises(EmulatorError, match=f"model refused: {reason}"):
        with ModelRunner("qemu-m7", runner_image, damage(_fc_blob())):
            pass


def _relu_exponents(bias_value: int = 100) -> np.ndarray:
    bias = np.array([bias_value, -100, 0, 7], dtype=np.int32)
    exponents = packing.relu_scale_exponents(SHIFTS, np.full(4, 1 << 30), -128, -128, 127, 8, bias)
    assert exponents is not None and list(exponents) == [3, 3, 2, 4]
    return exponents


@pytest.mark.parametrize("filter_type, zero_point", [
    (fmt.TensorType.PACKED_PAIRS, 5),            # the signed output stage
    (fmt.TensorType.PACKED_PAIRS_SCALED, -128),  # the ReLU one, one shift for the layer
])
def test_packed_filter_computes_what_its_int8_filter_does(runner_image, filter_type, zero_point):
    x = np.arange(-12, 12, dtype=np.int8) * 5
    exponents = _relu_exponents() if filter_type == fmt.TensorType.PACKED_PAIRS_SCALED else None
    outputs = []
    for kind in (fmt.TensorType.INT8, filter_type):
        blob = _pointwise_blob(kind, output_zero_point=zero_point, exponents=exponents)
        with ModelRunner("qemu-m7", runner_image, blob) as runner:
            outputs.append(runner.invoke(x).output)
    assert np.array_equal(outputs[0], outputs[1])
    assert len(set(outputs[1].tolist())) > 3  # not a saturated constant


@pytest.mark.parametrize("blob", [
    # Accumulators past the tiled loop's range need the reference path, which reads int8 weights.
    lambda: _pointwise_blob(fmt.TensorType.PACKED_PAIRS, bias_value=(1 << 29) + 1),
    # Scaled for the ReLU output stage, but the output offset makes the layer's stage signed.
    lambda: _pointwise_blob(fmt.TensorType.PACKED_PAIRS_SCALED, exponents=_relu_exponents()),
    # Its constants computed for another output offset than the layer's.
    lambda: _pointwise_blob(fmt.TensorType.PACKED_PAIRS, packed_zero_point=6),
], ids=["accumulators-too-wide", "scaled-without-relu", "constants-of-another-layer"])
def test_packed_filter_the_device_would_not_take_is_refused(runner_image, blob):
    with pytest.raises(EmulatorError, match="model refused: invalid operator"):
        with ModelRunner("qemu-m7", runner_image, blob()):
            pass


# A row chain (firmware/lib/model/row_chain.h): mbv2-w0.35-128's stem and first two blocks, op 0 of its blob.
def _chain_blob() -> tuple[bytes, int, int]:
    """mbv2's blob, the data-section offset of its ROW_CHAIN op's parameters, and the arena offset of
    the model input."""
    from quantize.lower import lower_tflite
    from quantize.models import load_reference_model

    blob = lower_tflite(load_reference_model("mbv2-w0.35-128").tflite_bytes(), "mbv2").blob
    header = fmt.read_header(blob)
    opcode, _, _, input_tensor = fmt.OP.unpack_from(blob, header["ops_offset"])[:4]
    params = struct.unpack_from("<I", blob, header["ops_offset"] + fmt.OP.offset("params_offset"))[0]
    assert opcode == fmt.OpCode.ROW_CHAIN
    record = header["tensors_offset"] + input_tensor * fmt.TENSOR.size
    return blob, header["data_offset"] + params, struct.unpack_from("<I", blob, record + fmt.TENSOR.offset("offset"))[0]


def _chain_damaged(field: str, value) -> bytes:
    from quantize.row_chain import ROW_CHAIN_PARAMS

    blob, params, input_offset = _chain_blob()
    damaged = bytearray(blob)
    code = "<I" if field.endswith(("_offset", "num_stages")) else "<H"
    struct.pack_into(code, damaged, params + ROW_CHAIN_PARAMS.offset(field), input_offset if value is None else value)
    return _recrc(damaged)


@pytest.mark.emulator
def test_row_chain_runs_and_damaged_chains_are_refused(runner_image):
    blob, _, _ = _chain_blob()
    with ModelRunner("qemu-m7", runner_image, blob) as runner:
        assert runner.info["name"] == "mbv2"
    for field, value in [
        ("num_stages", 9),                        # more stages than RowChainParams holds
        ("stages[0].window_rows", 2),             # the 3x3 depthwise after the stem reads 3 rows
        ("stages[3].window_offset", None),        # a window over the model's input
        ("stages[5].window_rows", 1),             # the last stage writes the output, it has no window
        ("stages[2].rows", 0),                    # no band at all
        ("stages[4].out_c", 47),                  # a depthwise stage that changes the channel count
    ]:
        with pytest.raises(EmulatorError, match="model refused: invalid operator"):
            with ModelRunner("qemu-m7", runner_image, _chain_damaged(field, value)):
                pass
