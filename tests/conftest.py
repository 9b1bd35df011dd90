"""Shared fixtures: firmware images are built once per test session and reused."""

from __future__ import annotations

from pathlib import Path

import pytest

from host_tools.firmware_build import BuildResult, build


class FirmwareCache:
    """Builds each (target, flags) combination once; variant builds get their own build folder
    so they never mix objects with the normal build of the same environment."""

    def __init__(self, scratch: Path):
        self._scratch = scratch
        self._builds: dict[tuple[str, tuple[str, ...]], BuildResult] = {}

    def get(self, target: str, *flags: str) -> BuildResult:
        key = (target, flags)
        if key not in self._builds:
            build_dir = None
            if flags:
                build_dir = self._scratch / ("variant-%d" % len(self._builds))
            self._builds[key] = build(target, extra_flags=list(flags), build_dir=build_dir)
        return self._builds[key]


@pytest.fixture(scope="session")
def firmware(tmp_path_factory) -> FirmwareCache:
    return FirmwareCache(tmp_path_factory.mktemp("firmware-variants"))
