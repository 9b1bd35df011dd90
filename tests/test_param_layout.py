"""The blob's records and parameter blocks have the same layout, field by field, on both sides.

The firmware asserts the offset of every field the blob carries (static_assert(offsetof(...)) in
firmware/lib/model/blob_layout.cpp, the training section's in firmware/lib/train/training_format.h), so a
change there fails its build; this test reads those
asserts and checks each offset against the offsets the host's struct formats (quantize/blob.py)
pack the fields at, so a change on the host side fails here. Fields are matched in order: the
n-th asserted field of a struct is the n-th field its host format packs. (When the host formats
carry field names, the designators read here can be compared with them too.)
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

import pytest

from host_tools import project
from quantize import blob as fmt
from quantize.row_chain import MAX_CHAIN_STAGES, ROW_CHAIN_STAGE
from quantize.training import lowering as training_format

FIRMWARE_LIB = project.ROOT / "firmware" / "lib"
OFFSETOF = re.compile(r"static_assert\(\s*offsetof\(\s*([\w:]+)\s*,\s*([^)]+?)\s*\)\s*==\s*(\d+)")
SIZEOF = re.compile(r"static_assert\(\s*sizeof\(\s*([\w:]+)\s*\)\s*==\s*(\d+)")


@dataclass(frozen=True)
class HostLayout:
    formats: tuple[struct.Struct, ...]  # packed one after the other
    drop_last: int = 0  # a kernel's struct the host packs as an op block without its trailing fields

    def offsets(self) -> list[int]:
        offsets = field_offsets(*(f.format for f in self.formats))
        return offsets[:len(offsets) - self.drop_last]

    def size(self) -> int:
        offsets = field_offsets(*(f.format for f in self.formats))
        return offsets[-self.drop_last] if self.drop_last else sum(f.size for f in self.formats)


# Each firmware struct the blob carries, by its unqualified C++ name, and how the host packs it.
HOST_LAYOUTS = {
    "BlobHeader": HostLayout((fmt.HEADER,)),
    "TensorRecord": HostLayout((fmt.TENSOR,)),
    "OpRecord": HostLayout((fmt.OP,)),
    "ConvParams": HostLayout((fmt.CONV_PARAMS,), drop_last=2),  # then the multiplier and shift offsets
    "ConvOpParams": HostLayout((fmt.CONV_PARAMS,)),
    "FullyConnectedParams": HostLayout((fmt.FC_PARAMS,), drop_last=2),
    "FullyConnectedOpParams": HostLayout((fmt.FC_PARAMS,)),
    "AddParams": HostLayout((fmt.ADD_PARAMS,)),
    "ConcatenationParams": HostLayout((fmt.CONCATENATION_PARAMS,)),
    "SliceParams": HostLayout((fmt.SLICE_PARAMS,)),
    "PoolParams": HostLayout((fmt.POOL_PARAMS,)),
    "MeanParams": HostLayout((fmt.MEAN_PARAMS,)),
    "PadParams": HostLayout((fmt.PAD_PARAMS,)),
    "RequantizeParams": HostLayout((fmt.REQUANTIZE_PARAMS,)),
    "ActivationParams": HostLayout((fmt.ACTIVATION_PARAMS,)),
    "LeakyReluParams": HostLayout((fmt.LEAKY_RELU_PARAMS,)),
    "LutParams": HostLayout((fmt.LUT_PARAMS,)),
    "MulParams": HostLayout((fmt.MUL_PARAMS,)),
    "SoftmaxParams": HostLayout((fmt.SOFTMAX_PARAMS,)),
    "InvertedResidualParams": HostLayout((fmt.CONV_PARAMS,) * 3 + (fmt.ADD_PARAMS, fmt.FUSED_TAIL)),
    "RowChainStage": HostLayout((ROW_CHAIN_STAGE,)),
    # num_stages, then each stage as one block (RowChainStage's fields are checked above)
    "RowChainParams": HostLayout((struct.Struct("<I"), struct.Struct("<" + f"{ROW_CHAIN_STAGE.size}s" * MAX_CHAIN_STAGES))),
    "TrainHeader": HostLayout((training_format.TRAIN_HEADER,)),
    "TrainStep": HostLayout((training_format.TRAIN_STEP,)),
    "MulBackward": HostLayout((training_format.MUL_BACKWARD,)),
}


def field_offsets(*formats: str) -> list[int]:
    """The offset of every field that struct formats such as "<10i2I" pack, the formats laid end to
    end with no padding (standard sizes, as '<' packs). A count before 's' or 'p' is one field of
    that many bytes, before 'x' that many pad bytes, before any other code that many fields."""
    offsets: list[int] = []
    position = 0
    for layout in formats:
        if layout[:1] not in "<=!>":
            raise ValueError(f"{layout!r}: native alignment would insert padding; use '<'")
        for count, code in re.findall(r"(\d*)([a-zA-Z?])", layout[1:]):
            n = int(count) if count else 1
            if code in "sp":
                offsets.append(position)
                position += n
            elif code == "x":
                position += n
            else:
                size = struct.calcsize("<" + code)
                offsets.extend(position + i * size for i in range(n))
                position += n * size
    return offsets


def firmware_asserts(sources: list[tuple[str, str]]) -> tuple[dict[str, list[tuple[str, int]]], dict[str, int]]:
    """(struct -> [(field designator, offset)] in source order, struct -> asserted sizeof) from
    (file name, text) pairs; struct names unqualified (kernels::ConvParams is ConvParams)."""
    fields: dict[str, list[tuple[str, int]]] = {}
    sizes: dict[str, int] = {}
    for _, text in sources:
        for name, designator, offset in OFFSETOF.findall(text):
            fields.setdefault(name.split("::")[-1], []).append((designator, int(offset)))
        for name, size in SIZEOF.findall(text):
            sizes[name.split("::")[-1]] = int(size)
    return fields, sizes


def layout_mismatches(name: str, asserted: list[tuple[str, int]], host: list[int]) -> list[str]:
    """What differs between the firmware's asserted fields and the host's field offsets."""
    if not asserted:
        return [f"{name}: no static_assert(offsetof({name}, ...)) in the firmware"]
    problems = [f"{name}.{field}: firmware offset {offset}, host offset {want}"
                for (field, offset), want in zip(asserted, host) if offset != want]
    problems += [f"{name}.{field}: asserted by the firmware, not packed by the host (extra)"
                 for field, _ in asserted[len(host):]]
    problems += [f"{name}: host packs a field at offset {want} the firmware does not assert (missing)"
                 for want in host[len(asserted):]]
    return problems


@pytest.fixture(scope="module")
def asserts() -> tuple[dict[str, list[tuple[str, int]]], dict[str, int]]:
    sources = [(str(p), p.read_text()) for p in sorted(FIRMWARE_LIB.rglob("*")) if p.suffix in (".h", ".cpp")]
    return firmware_asserts(sources)


def test_field_offsets_follow_the_struct_codes():
    assert field_offsets("<10i2I") == list(range(0, 48, 4))
    assert field_offsets("<IHHII16sHH") == [0, 4, 6, 8, 12, 16, 32, 34]
    assert field_offsets("<4HBBHiII") == [0, 2, 4, 6, 8, 9, 10, 12, 16, 20]
    assert field_offsets("<B3xI", "<H") == [0, 4, 8]
    for layout in (fmt.HEADER, fmt.TENSOR, fmt.OP, fmt.CONV_PARAMS, fmt.FUSED_TAIL):
        assert len(field_offsets(layout.format)) == len(layout.unpack(bytes(layout.size)))


@pytest.mark.parametrize("name", sorted(HOST_LAYOUTS))
def test_firmware_asserts_every_field_at_the_hosts_offset(asserts, name):
    fields, sizes = asserts
    layout = HOST_LAYOUTS[name]
    assert layout_mismatches(name, fields.get(name, []), layout.offsets()) == []
    assert sizes.get(name) == layout.size(), f"sizeof({name}): firmware {sizes.get(name)}, host {layout.size()}"


def test_a_swapped_or_missing_field_is_reported():
    text = """
        static_assert(offsetof(kernels::MeanParams, input_zero_point) == 0, "");
        static_assert(offsetof(kernels::MeanParams, multiplier) == 8, "");
        static_assert(offsetof(kernels::MeanParams, output_zero_point) == 4, "");
    """
    fields, _ = firmware_asserts([("mean.h", text)])
    problems = layout_mismatches("MeanParams", fields["MeanParams"], HOST_LAYOUTS["MeanParams"].offsets())
    assert problems == [
        "MeanParams.multiplier: firmware offset 8, host offset 4",
        "MeanParams.output_zero_point: firmware offset 4, host offset 8",
        "MeanParams: host packs a field at offset 12 the firmware does not assert (missing)",
        "MeanParams: host packs a field at offset 16 the firmware does not assert (missing)",
    ]
    assert layout_mismatches("PoolParams", [], [0]) == [
        "PoolParams: no static_assert(offsetof(PoolParams, ...)) in the firmware"]
