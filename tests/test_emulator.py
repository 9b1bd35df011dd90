"""The firmware boots on both QEMU targets and the emulator runner never leaves QEMU behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import serial

from host_tools import project
from host_tools.banner import read_banner
from host_tools.emulator import Emulator
from host_tools.errors import EmulatorError
from host_tools.targets import EMULATED, TARGETS

pytestmark = [pytest.mark.emulator, pytest.mark.slow]

EXPECTED_CPU = {"qemu-m7": "cortex-m7", "qemu-stm32f405": "cortex-m4"}


def _alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("board", EMULATED)
def test_firmware_boots_and_reports_its_banner_over_tcp_serial(firmware, board):
    image = firmware.get(board)
    with Emulator(board, image.elf) as emu:
        assert emu.url.startswith("socket://127.0.0.1:")
        banner, _ = read_banner(emu.connect())
    assert banner["board"] == board
    assert banner["cpu"] == EXPECTED_CPU[board]
    assert banner["fw"] == "0.1.0"
    assert banner["ram_budget"] == TARGETS[board].ram_budget_bytes
    assert banner["stack"] == 16 * 1024
    # Static RAM on the device equals .data + .bss of the image: RAM use minus the stack section,
    # plus the alignment padding the linker puts between .data and .bss (under 8 bytes), which
    # the section sizes PlatformIO adds up do not count.
    assert 0 <= banner["static_ram"] - (image.ram_used - banner["stack"]) < 8
    # Stack painting works: some stack was used by boot, far less than all of it.
    assert 0 < banner["stack_used"] < banner["stack"] // 2
    assert banner["clock_hz"] > 0 and banner["counter_hz"] > 0


@pytest.mark.parametrize("board", EMULATED)
def test_hardfault_is_reported_over_uart_and_exits_nonzero(firmware, board):
    image = firmware.get(board, "-DMCUTRAIN_SELFTEST_HARDFAULT")
    with Emulator(board, image.elf) as emu:
        link = emu.connect()
        read_banner(link)
        fault = link.readline() or link.readline()  # the report starts with a blank line
        while fault.strip() == b"":
            fault = link.readline()
        status = emu.wait(timeout=10)
    text = fault.decode()
    assert text.startswith("FAULT HardFault pc=0x"), text
    # udf is an undefined instruction: UsageFault (UNDEFINSTR, CFSR bit 16) escalated to HardFault.
    cfsr = int(text.split("cfsr=")[1].split()[0], 16)
    assert cfsr & (1 << 16), text
    assert status == 3


def test_context_manager_stops_qemu(firmware):
    image = firmware.get("qemu-m7")
    with Emulator("qemu-m7", image.elf) as emu:
        pid = emu.process.pid
        read_banner(emu.connect())
        assert _alive(pid)
    assert _wait_gone(pid, timeout=1.0)


def test_qemu_dies_with_a_crashed_host(firmware, tmp_path):
    """A host killed with SIGKILL runs no cleanup at all: the kernel must take QEMU down."""
    image = firmware.get("qemu-m7")
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        from host_tools.emulator import Emulator
        emu = Emulator("qemu-m7", {str(image.elf)!r}).start()
        print(emu.process.pid, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    host = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert host.returncode == -signal.SIGKILL
    qemu_pid = int(host.stdout.split()[0])
    assert _wait_gone(qemu_pid), f"QEMU pid {qemu_pid} outlived its host"


def _read_url(stream, deadline_s: float = 60.0) -> tuple[str, str]:
    seen = ""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        seen += line
        if line.startswith("serial port: "):
            return line.split(": ", 1)[1].strip(), seen
    raise AssertionError(f"no serial port URL printed; output was:\n{seen}")


def _qemu_children(root_pid: int) -> list[int]:
    """PIDs of qemu-system-arm processes in the session led by root_pid."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().split(")")[1].split()
            with open(f"/proc/{entry}/cmdline", "rb") as cmd:
                name = cmd.read().split(b"\0")[0]
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if name.endswith(b"qemu-system-arm") and int(fields[3]) == root_pid and fields[0] != "Z":
            found.append(int(entry))
    return found


@pytest.mark.parametrize(
    "command",
    [
        pytest.param([str(project.VENV_BIN / "mcutrain"), "emulate", "--board", "qemu-m7"], id="mcutrain-emulate"),
        pytest.param([project.pio_executable(), "run", "-e", "qemu-m7", "-t", "upload"], id="pio-upload"),
    ],
)
def test_emulate_prints_url_serves_banner_and_stops_on_ctrl_c(firmware, command):
    firmware.get("qemu-m7")  # built already: the command only checks it is up to date
    proc = subprocess.Popen(
        command, cwd=project.ROOT, env=project.pio_environment(), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    try:
        url, _ = _read_url(proc.stdout)
        assert url.startswith("socket://127.0.0.1:")
        qemu = _qemu_children(proc.pid)
        assert len(qemu) == 1
        with serial.serial_for_url(url, timeout=5) as link:
            banner, _ = read_banner(link)
        assert banner["board"] == "qemu-m7"
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            tree = subprocess.run(["ps", "-o", "pid=,stat=,wchan:24=,args=", "-s", str(proc.pid)], capture_output=True,
                                  text=True).stdout.strip()
            raise AssertionError(f"no exit 15 s after Ctrl-C; processes: {tree}") from None
        assert _wait_gone(qemu[0]), "QEMU survived Ctrl-C"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_missing_image_is_a_clear_error(tmp_path):
    with pytest.raises(EmulatorError, match="does not exist: build it first"):
        Emulator("qemu-m7", tmp_path / "nope.elf")


def test_board_without_emulator_is_refused(tmp_path):
    with pytest.raises(Exception, match="has no emulator"):
        Emulator("stm32f746g-disco", tmp_path / "x.elf")
