"""Row chains (quantize/row_chain.py, firmware/lib/model/row_chain.h): which runs of convolutions the
compiler finds, the bands and windows it gives them, and how the auto streaming policy chooses them
from the training step's SRAM budget. Their arithmetic is checked against TFLM by
tests/test_forward_fidelity.py (mbv2-w0.35-128, ref and net03_stem_chain_23x13x3, native and qemu-m7)."""

from __future__ import annotations

import pytest

from quantize.blob import read_header
from quantize.lower import STEP_SRAM_BUDGET, lower_graph, step_sram, streaming_units
from quantize.models import load_reference_model
from quantize.row_chain import (BANDS_ALL, BANDS_DEPTHWISE, BANDS_NONE, WINDOW_BYTES, Chain, chain_bands,
                                find_chains)
from quantize.tflite_model import parse_tflite
from quantize.training_plan import resolve_plan


@pytest.fixture(scope="module")
def mbv2():
    return parse_tflite(load_reference_model("mbv2-w0.35-128").tflite_bytes())


def test_mbv2s_stem_and_first_two_blocks_are_one_chain(mbv2):
    chains = find_chains(mbv2)
    assert chains[0].members == [0, 1, 2, 3, 4, 5]  # the input to the first 32x32 tensor
    assert chains[0].input == mbv2.int8_input
    # A run that is exactly a block's convolutions is left to the block, which adds its residual.
    units = streaming_units(mbv2)
    assert isinstance(units[0], Chain) and not any(isinstance(u, Chain) and u.members[0] < 58 for u in units[1:])
    assert [u.members for u in units[1:3]] == [[6, 7, 8, 9], [10, 11, 12]]


@pytest.mark.parametrize("level", [BANDS_ALL, BANDS_DEPTHWISE, BANDS_NONE])
def test_bands_keep_every_window_within_its_limit_and_hold_what_the_next_stage_reads(mbv2, level):
    chain = find_chains(mbv2)[0]
    rows, windows = chain_bands(mbv2, chain, level)
    ops = mbv2.operators
    one_row = chain_bands(mbv2, chain, BANDS_NONE)[1]
    assert windows[-1] == 0
    for j, index in enumerate(chain.members[:-1]):
        _, h, w, c = mbv2.tensor(ops[index].outputs[0]).shape
        following = ops[chain.members[j + 1]]
        need = min(h, (rows[j + 1] - 1) * following.options.stride_h + mbv2.tensor(following.inputs[1]).shape[1])
        assert need <= windows[j] <= h
        assert windows[j] * w * c <= max(WINDOW_BYTES, one_row[j] * w * c)
    if level == BANDS_NONE:
        assert rows == [1] * 6
    if level == BANDS_DEPTHWISE:  # only the depthwise stages widen
        assert all(r == 1 for r, m in zip(rows, chain.members) if ops[m].op != "DEPTHWISE_CONV_2D") and max(rows) > 1


def test_the_auto_policy_streams_for_the_whole_steps_budget(mbv2):
    inference = lower_graph(mbv2, "mbv2")
    sparse = lower_graph(mbv2, "mbv2", plan=resolve_plan("sparse", "mbv2-w0.35-128"))
    for lowered in (inference, sparse):
        assert lowered.op_names[0] == "ROW_CHAIN" and step_sram(lowered) <= STEP_SRAM_BUDGET
    # The sparse plan's trainable copy leaves less room: one more unit streamed, narrower bands.
    assert sparse.op_names[1] == "INVERTED_RESIDUAL" and inference.op_names[1] != "INVERTED_RESIDUAL"
    assert read_header(sparse.blob)["trainable_size"] >= 32 * 1024
    # Without the chain the input and the stem's output alone are 112 KB of arena.
    unstreamed = lower_graph(mbv2, "mbv2", stream="none", plan=resolve_plan("sparse", "mbv2-w0.35-128"))
    assert step_sram(unstreamed) > STEP_SRAM_BUDGET
