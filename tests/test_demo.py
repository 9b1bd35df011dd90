"""`mcutrain demo` (what `make demo` runs) end to end on qemu-m7, on a few samples: it builds, boots,
measures accuracy, trains on the device, and the host's golden reference agrees bit for bit."""

from __future__ import annotations

import re

import pytest

from host_tools.cli import main


@pytest.mark.emulator
def test_demo_trains_on_the_device_bit_exact_with_the_golden_reference(capsys):
    assert main(["demo", "--limit", "60", "--test-limit", "30", "--no-baseline", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"\[1/5\] built qemu-m7: RAM \d+ / 262144 bytes, flash \d+ / \d+ bytes", out)
    assert re.search(r"accuracy before training [\d.]+ on mnist5k test \(first 30 of 1000\)", out)
    assert re.search(r"training on the device: 60 steps", out)
    assert re.search(r"peak SRAM\s+\d+ / 262144 bytes", out)
    assert re.search(r"instructions per training step\s+[\d,]+", out)
    assert "agrees: 60/60 steps (loss, prediction) equal, final trainable parameters bit-exact" in out
