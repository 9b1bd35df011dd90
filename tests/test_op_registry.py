"""The op registry (quantize/ops/): one definition per TFLite op, the table the parser, the golden
reference, the lowering, the training plan and the memory planner all read."""

from __future__ import annotations

import dataclasses
import typing

import pytest

from quantize import blob as fmt
from quantize.lower import _Lowering
from quantize.ops import OPS, in_place_opcodes, op_def, parametric_ops
from quantize.tflite_model import SUPPORTED_OPS
from quantize.training_plan import PARAMETRIC_OPS


def test_the_parser_supports_exactly_the_registered_ops():
    assert SUPPORTED_OPS == tuple(OPS)
    assert all(op_def(name).name == name for name in OPS)


def test_every_blob_opcode_but_the_fused_ones_belongs_to_one_op():
    opcodes = [op.opcode for op in OPS.values() if op.opcode is not None]
    # but ACTIVATION, one kernel (rescale, then clamp) for RELU and RELU6, and LUT (a table lookup) for
    # LOGISTIC, TANH and HARD_SWISH
    assert sorted(op for op in opcodes if opcodes.count(op) > 1) == [fmt.OpCode.ACTIVATION] * 2 + [fmt.OpCode.LUT] * 3
    assert set(opcodes) == set(fmt.OpCode) - {fmt.OpCode.INVERTED_RESIDUAL, fmt.OpCode.ROW_CHAIN}


def test_only_ops_the_device_never_runs_lack_a_lowering():
    for op in OPS.values():
        assert (op.lower is None) == (op.opcode is None), op.name
    assert [name for name, op in OPS.items() if op.lower is None] == ["DEQUANTIZE"]


def test_the_blob_names_the_ops_parameter_blocks():
    expected = {"CONV_2D": fmt.CONV_PARAMS, "DEPTHWISE_CONV_2D": fmt.CONV_PARAMS, "FULLY_CONNECTED": fmt.FC_PARAMS,
                "ADD": fmt.ADD_PARAMS, "AVERAGE_POOL_2D": fmt.POOL_PARAMS, "MAX_POOL_2D": fmt.POOL_PARAMS,
                "MEAN": fmt.MEAN_PARAMS, "PAD": fmt.PAD_PARAMS, "QUANTIZE": fmt.REQUANTIZE_PARAMS,
                "SOFTMAX": fmt.SOFTMAX_PARAMS, "RESHAPE": None, "DEQUANTIZE": None, "RELU": fmt.ACTIVATION_PARAMS,
                "RELU6": fmt.ACTIVATION_PARAMS, "LEAKY_RELU": fmt.LEAKY_RELU_PARAMS,
                "CONCATENATION": fmt.CONCATENATION_PARAMS, "LOGISTIC": fmt.LUT_PARAMS, "TANH": fmt.LUT_PARAMS,
                "HARD_SWISH": fmt.LUT_PARAMS, "MUL": fmt.MUL_PARAMS, "SUB": fmt.ADD_PARAMS,
                "STRIDED_SLICE": fmt.SLICE_PARAMS}
    assert {name: op.params for name, op in OPS.items()} == expected


def test_the_plan_and_the_memory_planner_read_their_columns_from_the_registry():
    assert PARAMETRIC_OPS == parametric_ops() == ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
    assert _Lowering.IN_PLACE_OPCODES == in_place_opcodes() == (fmt.OpCode.ADD, fmt.OpCode.REQUANTIZE,
                                                                fmt.OpCode.ACTIVATION, fmt.OpCode.LEAKY_RELU,
                                                                fmt.OpCode.LUT)


@pytest.mark.parametrize("name, kernel_layout", [
    ("CONV_2D", fmt.KERNEL_CONV_PARAMS), ("FULLY_CONNECTED", fmt.KERNEL_FC_PARAMS), ("ADD", fmt.ADD_PARAMS),
    ("AVERAGE_POOL_2D", fmt.POOL_PARAMS), ("MEAN", fmt.MEAN_PARAMS), ("QUANTIZE", fmt.REQUANTIZE_PARAMS),
    ("SOFTMAX", fmt.SOFTMAX_PARAMS), ("RELU", fmt.ACTIVATION_PARAMS), ("RELU6", fmt.ACTIVATION_PARAMS),
    ("LEAKY_RELU", fmt.LEAKY_RELU_PARAMS), ("LOGISTIC", fmt.LUT_PARAMS), ("TANH", fmt.LUT_PARAMS),
    ("HARD_SWISH", fmt.LUT_PARAMS), ("MUL", fmt.MUL_PARAMS), ("SUB", fmt.ADD_PARAMS),
])
def test_prepared_parameters_are_named_like_their_blocks_fields(name, kernel_layout):
    """The lowering fills a block from Prepare's dataclass by field name ("act.min" from act_min):
    every field but dilation (always 1) must have its attribute."""
    params_type = typing.get_type_hints(op_def(name).prepare)["return"]
    attributes = {f.name for f in dataclasses.fields(params_type)}
    fields = {field.replace(".", "_") for field in kernel_layout.names} - {"dilation_h", "dilation_w"}
    assert fields <= attributes, sorted(fields - attributes)
