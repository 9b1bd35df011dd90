"""`mcutrain demo` (what `make demo` runs) end to end on qemu-m7, on a few images."""

from __future__ import annotations

import re

import pytest

from host_tools.cli import main


@pytest.mark.emulator
def test_demo_builds_boots_and_classifies_bit_exact_with_the_host(capsys):
    assert main(["demo", "--limit", "12"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"\[1/3\] built qemu-m7: RAM \d+ / 262144 bytes, flash \d+ / \d+ bytes \(model ref", out)
    assert re.search(r"board\s+qemu-m7", out) and re.search(r"ram_budget\s+262144", out)
    assert re.search(r"device accuracy [\d.]+ \(\d+/12\) on fashion-mnist test", out)
    assert "12/12 predictions, 12/12 logits bit-exact" in out
