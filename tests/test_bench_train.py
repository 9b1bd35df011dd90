"""`mcutrain bench train` reports, per backward step, its MACs and instructions for the error pass
and the updates and their ratio; the figures are QEMU -icount counts (deterministic), so the
pointwise layers' cost on the DSP kernels (firmware/lib/train/backward_s8.cpp) is held to its target."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from host_tools.cli import main

# Instructions per backward MAC the DSP kernels reach on ref's trained pointwise convolutions.
POINTWISE_TARGET = 1.5


@pytest.fixture(scope="module")
def figures():
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["bench", "train", "--board", "qemu-m7", "--model", "ref", "--plan", "demo", "--json"]) == 0
    return json.loads(out.getvalue())


@pytest.mark.emulator
@pytest.mark.slow
def test_bench_train_json_splits_each_backward_step_into_macs_and_instructions(figures):
    layers = figures["layers"]
    assert [layer["op"] for layer in layers] == [22, 21, 20, 19]
    for layer in layers:
        assert layer["macs"] == layer["error_macs"] + layer["update_macs"]
        assert layer["instructions"] == layer["error_instructions"] + layer["update_instructions"]
        for part in ("", "error_", "update_"):
            macs, per_mac = layer[f"{part}macs"], layer[f"{part}instr_per_mac"]
            assert per_mac == (round(layer[f"{part}instructions"] / macs, 3) if macs else None)
    conv20 = layers[2]  # 1x1, 48 -> 128 channels on 7x7, weights, bias and input error
    assert (conv20["error_macs"], conv20["update_macs"]) == (49 * 48 * 128, 49 * 48 * 128 + 49 * 128)
    assert figures["backward_macs"] == sum(layer["macs"] for layer in layers)
    trained = [layer for layer in layers if layer["weights"] or layer["bias"]]
    assert figures["trained_layers_instr_per_mac"] == round(
        sum(layer["instructions"] for layer in trained) / sum(layer["macs"] for layer in trained), 3)


@pytest.mark.emulator
@pytest.mark.slow
def test_trained_pointwise_convolutions_take_at_most_the_target_per_backward_mac(figures):
    for layer in figures["layers"]:
        if layer["kind"] == "CONV_2D":
            assert layer["instr_per_mac"] <= POINTWISE_TARGET, layer
