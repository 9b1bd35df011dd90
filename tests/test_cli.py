"""The CLI maps expected failures to one line and an exit code, never a traceback."""

from __future__ import annotations

import subprocess
import sys

from host_tools import project


def _mcutrain(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "host_tools.cli", *args], capture_output=True, text=True, cwd=project.ROOT)


def test_unknown_board_is_rejected_with_the_choices():
    proc = _mcutrain("emulate", "--board", "stm32f746g-disco")
    assert proc.returncode == 2
    assert "invalid choice: 'stm32f746g-disco'" in proc.stderr and "qemu-m7" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_image_is_one_line_error(tmp_path):
    proc = _mcutrain("emulate", "--board", "qemu-m7", "--elf", str(tmp_path / "missing.elf"))
    assert proc.returncode == 5
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mcutrain: error: firmware image")
    assert "missing.elf does not exist" in lines[0]


def test_a_count_below_one_is_refused_while_parsing():
    # Refused before anything is built or started: the demo would otherwise build and boot first.
    proc = _mcutrain("demo", "--limit", "0")
    assert proc.returncode == 2
    assert "argument --limit: expected at least 1, got 0" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_an_unknown_plan_name_fails_in_one_line_before_anything_is_built():
    for argv in (("build", "--board", "qemu-m7", "--model", "mbv2-w0.35-128", "--plan", "demo"),
                 ("info", "--board", "qemu-m7", "--plan", "nope")):
        proc = _mcutrain(*argv)
        assert proc.returncode == 1, proc.stderr
        model, plans = (("mbv2-w0.35-128", "head, sparse, sparse-gf2") if argv[0] == "build"
                        else ("ref", "demo, demo-gf2, demo-gf4, head"))
        assert proc.stderr.strip().splitlines() == [
            f"mcutrain: error: training plan '{argv[-1]}': no such file, and model {model} has no plan of that name "
            f"(its plans: {plans})"]
