"""Runs one of the firmware's native case-driven test programs (firmware/test/test_*_fidelity)
over a folder of cases the Python tests wrote, and collects each case's verdict."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from host_tools import project


def run_native_cases(program: str, env_var: str, folder: Path, project_dir: Path = project.ROOT) -> dict[str, str]:
    """Runs `pio test -e native -f <program>` with <env_var>=folder (on the firmware of project_dir,
    the project's own unless a test built a copy); returns case name -> "PASSED" or the failure
    line. Fails when the program reported no case at all."""
    env = project.pio_environment()
    env[env_var] = str(folder)
    proc = subprocess.run([project.pio_executable(), "test", "-e", "native", "-f", program, "-d", str(project_dir)],
                          env=env, capture_output=True, text=True, cwd=project_dir)
    results = {}
    for line in proc.stdout.splitlines():
        match = re.search(rf"{program}\.cpp:\d+: ([\w.\-]+)(.*)\[(PASSED|FAILED)\]", line)
        if match:
            results[match.group(1).split(":")[0]] = "PASSED" if match.group(3) == "PASSED" else line
    assert results, f"no results from the native {program} run:\n{proc.stdout[-3000:]}{proc.stderr[-2000:]}"
    return results
