"""The banner parser the host uses to read the firmware's boot line."""

import pytest

from host_tools.banner import parse_banner


def test_parse_banner_types_fields():
    fields = parse_banner(
        "mcutrain fw=0.1.0 board=qemu-m7 cpu=cortex-m7 clock_hz=25000000 counter_hz=25000000 "
        "ram_budget=262144 static_ram=8 stack=16384 stack_used=364 reset=power-on \r\n"
    )
    assert fields["board"] == "qemu-m7"
    assert fields["ram_budget"] == 262144 and isinstance(fields["stack_used"], int)
    assert fields["reset"] == "power-on"


@pytest.mark.parametrize("line", ["hello world", "mcutrain fw", "FAULT HardFault pc=0x0"])
def test_parse_banner_rejects_other_lines(line):
    with pytest.raises(ValueError):
        parse_banner(line)
