"""Set-up is offline-capable and idempotent."""

from __future__ import annotations

import json
import subprocess

from host_tools import pio_bootstrap, project


def test_tool_scons_seeded_from_pypi_scons_is_recognised(tmp_path):
    assert not pio_bootstrap.is_seeded(tmp_path)
    folder = pio_bootstrap.seed_tool_scons(tmp_path)
    assert pio_bootstrap.is_seeded(tmp_path)
    meta = json.loads((folder / ".piopm").read_text())
    # Without the owner PlatformIO does not treat the package as its own and asks the registry.
    assert meta["spec"]["owner"] == "platformio" and meta["name"] == "tool-scons"
    assert (folder / "SCons" / "Script" / "__init__.py").is_file()
    launcher = subprocess.run(
        [str(project.VENV_BIN / "python"), str(folder / "scons.py"), "--version"], capture_output=True, text=True
    )
    assert launcher.returncode == 0 and "SCons" in launcher.stdout


def test_make_setup_with_nothing_missing_installs_nothing():
    proc = subprocess.run(["make", "-s", "setup"], cwd=project.ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout + proc.stderr
    assert "installing Debian packages" not in out
    assert "pip install" not in out
    assert "seeding PlatformIO" not in out
