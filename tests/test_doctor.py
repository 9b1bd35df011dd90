"""`mcutrain doctor` names each missing piece and the command that fixes it."""

from __future__ import annotations

import os
import subprocess
import sys

from host_tools import doctor, project


def _run_doctor(path: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=path)
    return subprocess.run(
        [sys.executable, "-m", "host_tools.cli", "doctor"], env=env, capture_output=True, text=True, cwd=project.ROOT
    )


def test_doctor_passes_on_a_set_up_machine():
    proc = _run_doctor(os.environ["PATH"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "MISSING" not in proc.stdout


def test_doctor_names_missing_toolchain_and_its_fix(tmp_path):
    # A PATH with the host compilers but neither the ARM toolchain nor QEMU.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("gcc", "g++"):
        (bin_dir / tool).symlink_to(f"/usr/bin/{tool}")
    proc = _run_doctor(str(bin_dir))
    assert proc.returncode == 1
    out = proc.stdout
    assert "[MISSING] arm-none-eabi-gcc: arm-none-eabi-gcc is not on PATH" in out
    assert "fix: sudo apt-get install -y gcc-arm-none-eabi" in out
    assert "[MISSING] qemu-system-arm: qemu-system-arm is not on PATH" in out
    assert "fix: sudo apt-get install -y qemu-system-arm" in out
    assert "[ok     ] gcc:" in out  # what is there is not reported missing
    assert proc.stderr == ""  # no traceback


def test_every_fix_package_is_installed_by_setup(monkeypatch, tmp_path):
    listed = {
        line.strip()
        for line in (project.ROOT / "host_tools" / "debian_packages.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    monkeypatch.setenv("PATH", str(tmp_path))  # everything missing: every fix is shown
    monkeypatch.setattr(doctor, "FASHION_MNIST_DIR", tmp_path)
    fixes = [c.fix for c in doctor.run_checks() if c.fix.startswith(doctor.APT_INSTALL)]
    assert fixes
    for fix in fixes:
        assert fix.split()[-1] in listed, fix
