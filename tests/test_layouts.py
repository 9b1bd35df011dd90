"""The blob's records and parameter blocks as named layouts (quantize/layout.py): the offsets the
firmware's structs have (blob_format.h, kernels/*.h), packing by field name, and its refusals."""

from __future__ import annotations

import pytest

from quantize import blob as fmt
from quantize.layout import Layout


def test_records_and_blocks_have_the_firmware_offsets():
    assert (fmt.HEADER.offset("crc32"), fmt.HEADER.offset("name"), fmt.HEADER.offset("trainable_size")) == (12, 16, 64)
    assert fmt.TENSOR.offset("zero_point") == 12 and fmt.OP.offset("params_offset") == 12
    assert fmt.CONV_PARAMS.fields[:2] == (("conv.stride_h", 0), ("conv.stride_w", 4))
    assert (fmt.CONV_PARAMS.offset("conv.act.min"), fmt.CONV_PARAMS.offset("shift_offset")) == (32, 44)
    assert fmt.FC_PARAMS.offset("fc.act.max") == 16 and fmt.PAD_PARAMS.offset("after") == 16
    assert fmt.INVERTED_RESIDUAL_PARAMS.offset("add.act.min") == 184
    assert fmt.INVERTED_RESIDUAL_PARAMS.offset("window_offset") == 208
    assert fmt.INVERTED_RESIDUAL_PARAMS.offset("row_offset") == fmt.INVERTED_RESIDUAL_PARAMS.size - 4


def test_every_layout_lists_its_fields_in_increasing_offsets():
    layouts = [value for value in vars(fmt).values() if isinstance(value, Layout)]
    assert len(layouts) >= 15
    for layout in layouts:
        offsets = [at for _, at in layout.fields]
        assert offsets == sorted(set(offsets)) and offsets[0] == 0 and offsets[-1] < layout.size, layout.cpp_name
        assert layout.cpp_name.startswith(("model::", "kernels::")), layout.cpp_name


def test_packing_by_name_equals_packing_by_position():
    named = fmt.CONV_PARAMS.pack_fields({
        "conv": {"stride_h": 1, "stride_w": 2, "pad_top": 3, "pad_left": 4, "dilation_h": 1, "dilation_w": 1,
                 "input_offset": 7, "output_offset": -8, "act": {"min": -128, "max": 127}},
        "multiplier_offset": 64, "shift_offset": 96})
    assert named == fmt.CONV_PARAMS.pack(1, 2, 3, 4, 1, 1, 7, -8, -128, 127, 64, 96)
    pad = fmt.PAD_PARAMS.pack_fields({"before": (0, 1, 2, 0), "after": (0, 3, 4, 0), "pad_value": -5})
    assert pad == fmt.PAD_PARAMS.pack(0, 1, 2, 0, 0, 3, 4, 0, -5)
    assert fmt.ADD_PARAMS.pack_fields(fmt.ADD_PARAMS.zero_fields()) == bytes(fmt.ADD_PARAMS.size)


def test_packing_refuses_missing_unknown_and_misshapen_fields():
    values = fmt.MEAN_PARAMS.zero_fields()
    with pytest.raises(KeyError, match=r"kernels::MeanParams: fields missing \['shift'\], unknown \['shfit'\]"):
        fmt.MEAN_PARAMS.pack_fields({**{k: v for k, v in values.items() if k != "shift"}, "shfit": 0})
    with pytest.raises(ValueError, match=r"kernels::PadParams.before: 3 values for an array of 4"):
        fmt.PAD_PARAMS.pack_fields({"before": (0, 0, 0), "after": (0, 0, 0, 0), "pad_value": 0})


def test_a_field_cpp_would_pad_before_is_refused():
    with pytest.raises(ValueError, match=r"Bad.value at offset 2 is not aligned"):
        Layout("Bad", ("tag", "H"), ("value", "i"))
