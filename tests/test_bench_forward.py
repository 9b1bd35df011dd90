"""`mcutrain bench forward` prints the figures the README's table is made from; the figures themselves
are not judged here (a benchmark, not a timed test), only that they are complete and consistent."""

from __future__ import annotations

import json

import pytest

from host_tools.cli import main
from quantize.models import load_reference_model


@pytest.mark.emulator
def test_bench_forward_json_has_per_layer_and_total_figures(capsys):
    assert main(["bench", "forward", "--board", "qemu-m7", "--model", "ref", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert (figures["model"], figures["board"]) == ("ref", "qemu-m7")
    layers, total = figures["layers"], figures["total"]
    assert {"macs", "instructions", "instr_per_mac", "arena_bytes"} <= set(layers[0])
    assert total["macs"] == sum(layer["macs"] for layer in layers) == load_reference_model("ref").manifest["macs"]
    assert total["instructions"] == sum(layer["instructions"] for layer in layers)
    assert all(layer["instructions"] > 0 for layer in layers)
    assert max(layer["arena_bytes"] for layer in layers) <= total["peak_arena_bytes"] <= 128 * 1024
