"""Seed PlatformIO's core folder so that it builds with no registry.

PlatformIO runs every build through its core package `tool-scons`, which it normally downloads
from its registry. That registry is unreachable here, so set-up builds the package from the SCons
that pip installed from PyPI (pinned in pyproject.toml to the release PlatformIO 6.2.0 wants).
Usage: python -m host_tools.pio_bootstrap CORE_DIR  (idempotent; `make setup` runs it).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import SCons

# The version PlatformIO 6.2.0 requires of tool-scons (platformio/dependencies.py: "~4.41101.0"):
# PlatformIO's packaging of SCons 4.11.1.
TOOL_SCONS_VERSION = "4.41101.0"

SCONS_LAUNCHER = """\
# Launcher PlatformIO runs as <core>/packages/tool-scons/scons.py (written by host_tools.pio_bootstrap).
from SCons.Script import main
main()
"""


def tool_scons_dir(core_dir: Path) -> Path:
    return core_dir / "packages" / "tool-scons"


def is_seeded(core_dir: Path) -> bool:
    package_json = tool_scons_dir(core_dir) / "package.json"
    if not package_json.is_file():
        return False
    return json.loads(package_json.read_text()).get("version") == TOOL_SCONS_VERSION


def seed_tool_scons(core_dir: Path) -> Path:
    """Write <core_dir>/packages/tool-scons from the installed SCons; returns its folder."""
    target = tool_scons_dir(core_dir)
    staging = target.with_name("tool-scons.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    shutil.copytree(Path(SCons.__file__).parent, staging / "SCons")
    (staging / "scons.py").write_text(SCONS_LAUNCHER)
    (staging / "package.json").write_text(
        json.dumps({"name": "tool-scons", "version": TOOL_SCONS_VERSION, "description": "SCons from PyPI"})
    )
    # Without "owner": "platformio" in the spec PlatformIO does not recognise the package as its
    # own core dependency and tries to install it from the registry.
    (staging / ".piopm").write_text(
        json.dumps(
            {
                "type": "tool",
                "name": "tool-scons",
                "version": TOOL_SCONS_VERSION,
                "spec": {"owner": "platformio", "id": None, "name": "tool-scons", "requirements": None, "uri": None},
            }
        )
    )
    # Replace atomically-ish: a half-copied package must never look installed.
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m host_tools.pio_bootstrap CORE_DIR", file=sys.stderr)
        return 2
    core_dir = Path(argv[0]).resolve()
    if is_seeded(core_dir):
        return 0
    print(f"seeding PlatformIO tool-scons {TOOL_SCONS_VERSION} into {tool_scons_dir(core_dir)}")
    seed_tool_scons(core_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
