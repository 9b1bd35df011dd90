"""The firmware's boot banner: one line "mcutrain key=value ..." (firmware/src/app/banner.cpp)."""

from __future__ import annotations

import time

import serial

from host_tools.errors import EmulatorError

BANNER_PREFIX = b"mcutrain "
# Seconds to wait for the banner after the link opens (QEMU boots in well under a second).
BANNER_TIMEOUT_S = 10.0
# Integer fields of the banner; the others are strings.
INT_FIELDS = ("clock_hz", "counter_hz", "ram_budget", "static_ram", "stack", "stack_used")


def parse_banner(line: str) -> dict[str, str | int]:
    """Parses one banner line into a dict; raises ValueError if it is not a banner."""
    line = line.strip()
    if not line.startswith(BANNER_PREFIX.decode()):
        raise ValueError(f"not a mcutrain banner: {line[:80]!r}")
    fields: dict[str, str | int] = {}
    for item in line.split()[1:]:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"malformed banner field {item!r}")
        fields[key] = int(value) if key in INT_FIELDS else value
    return fields


def read_banner(link: serial.Serial, timeout: float = BANNER_TIMEOUT_S) -> tuple[dict[str, str | int], str]:
    """Reads lines from the link until the banner arrives; returns (fields, everything read)."""
    deadline = time.monotonic() + timeout
    seen = b""
    while time.monotonic() < deadline:
        line = link.readline()
        seen += line
        if line.startswith(BANNER_PREFIX) and line.endswith(b"\n"):
            return parse_banner(line.decode(errors="replace")), seen.decode(errors="replace")
    raise EmulatorError(f"no boot banner from the device within {timeout:.0f} s; it sent: {seen[-200:]!r}")
