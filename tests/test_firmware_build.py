"""Every PlatformIO environment builds, reports its flash and RAM use, and the linker enforces the
SRAM budget."""

from __future__ import annotations

import subprocess

import pytest

from host_tools import project
from host_tools.errors import BuildError
from host_tools.firmware_build import build
from host_tools.targets import FIRMWARE, TARGETS

ELF_MAGIC = b"\x7fELF"
EM_ARM = 40


def _elf_machine(path) -> int:
    header = path.read_bytes()[:20]
    assert header[:4] == ELF_MAGIC, f"{path} is not an ELF file"
    return int.from_bytes(header[18:20], "little")


@pytest.mark.slow
@pytest.mark.parametrize("target", FIRMWARE)
def test_firmware_target_builds_within_its_budget(firmware, target):
    result = firmware.get(target)
    assert _elf_machine(result.elf) == EM_ARM
    # PlatformIO's size check printed the usage against the board's limits.
    assert result.ram_total == TARGETS[target].ram_budget_bytes
    assert 0 < result.ram_used <= result.ram_total
    assert 0 < result.flash_used <= result.flash_total
    assert f"RAM {result.ram_used} / {result.ram_total}" in result.usage_line()


@pytest.mark.slow
def test_native_environment_builds_host_program(firmware):
    result = firmware.get("native")
    assert _elf_machine(result.elf) not in (0, EM_ARM)  # built by the host compiler


@pytest.mark.slow
def test_static_ram_over_budget_fails_to_link_naming_the_overflow(tmp_path):
    with pytest.raises(BuildError) as err:
        build("qemu-m7", extra_flags=["-DMCUTRAIN_SELFTEST_RAM_OVERFLOW"], build_dir=tmp_path)
    message = str(err.value)
    assert "exceeds the RAM region (SRAM budget) by" in message
    # The probe is 512 KB against a 256 KB region: the excess is at least 256 KB.
    excess = int(message.split(" by ")[1].split()[0])
    assert excess >= 256 * 1024


@pytest.mark.slow
def test_native_unit_tests_pass_under_pio_test():
    proc = subprocess.run(
        [project.pio_executable(), "test", "-e", "native", "-d", str(project.ROOT)],
        env=project.pio_environment(), capture_output=True, text=True, cwd=project.ROOT,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    passed = [line for line in output.splitlines() if line.rstrip().endswith("[PASSED]")]
    assert len(passed) >= 5, output[-3000:]
    assert "[FAILED]" not in output
