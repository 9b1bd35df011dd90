"""Where the project's files are, and the environment every PlatformIO call needs.

mcutrain is installed editable from its repository (`make setup`): the firmware sources,
platformio.ini and the PlatformIO core folder are found relative to this package.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLATFORMIO_INI = ROOT / "platformio.ini"
PIO_CORE_DIR = ROOT / ".pio-core"
BUILD_DIR = ROOT / ".pio" / "build"
VENV_BIN = ROOT / ".venv" / "bin"


def pio_environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """Process environment for running PlatformIO offline against the project's own core."""
    env = dict(os.environ if base is None else base)
    env["PLATFORMIO_CORE_DIR"] = str(PIO_CORE_DIR)
    env["PLATFORMIO_SETTING_ENABLE_TELEMETRY"] = "No"
    # PlatformIO periodically checks PyPI/its registry for upgrades; there is nothing to check.
    env["PLATFORMIO_SETTING_CHECK_PLATFORMIO_INTERVAL"] = "36500"
    env["PLATFORMIO_SETTING_CHECK_PRUNE_SYSTEM_THRESHOLD"] = "0"
    env.setdefault("PLATFORMIO_NO_ANSI", "true")
    return env


def pio_executable() -> str:
    """The `pio` of the project's virtual environment (falls back to PATH)."""
    candidate = VENV_BIN / "pio"
    return str(candidate) if candidate.exists() else "pio"
