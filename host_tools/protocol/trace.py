"""`--trace`: hex dumps of the link's traffic with time stamps (seconds since the session opened)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

BYTES_PER_LINE = 16


def hex_lines(data: bytes) -> list[str]:
    """`offset  hex bytes  |ascii|` lines, 16 bytes each."""
    lines = []
    for start in range(0, len(data), BYTES_PER_LINE):
        chunk = data[start : start + BYTES_PER_LINE]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{start:04x}  {hexes:<{BYTES_PER_LINE * 3 - 1}}  |{text}|")
    return lines


class Tracer:
    """Writes trace lines to `out` (stderr by default); a disabled tracer costs one attribute test."""

    def __init__(self, enabled: bool = False, out: TextIO | None = None):
        self.enabled = enabled
        self.out = out or sys.stderr
        self._start = time.monotonic()

    def note(self, message: str) -> None:
        if self.enabled:
            print(f"TRACE +{time.monotonic() - self._start:.6f} {message}", file=self.out, flush=True)

    def dump(self, direction: str, data: bytes, what: str = "") -> None:
        if not self.enabled:
            return
        label = f" {what}" if what else ""
        self.note(f"{direction} {len(data)} bytes{label}")
        for line in hex_lines(data):
            print(f"    {line}", file=self.out)
        self.out.flush()
