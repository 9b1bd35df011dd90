"""An SRAM budget as people write it: "128KB", "96kb", "96 KiB", "0.25MB" or bytes ("98304").

KB and KiB both mean 1,024 bytes, as the boards' RAM sizes do (256 KB = 262,144 bytes); MB and
MiB 1,048,576. The result is a positive whole number of bytes."""

from __future__ import annotations

import re

from quantize.errors import PlanError

UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024 ** 2, "mb": 1024 ** 2, "mib": 1024 ** 2}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$", re.IGNORECASE)
EXPECTED = "expected a positive size such as 96KB, 96kb or 98304 (bytes; KB = 1024 bytes)"


def parse_budget(text: str, what: str = "--budget") -> int:
    """Bytes of `text`; PlanError naming `what` and the text otherwise."""
    match = _SIZE.match(text)
    if not match or match.group(2).lower() not in UNITS:
        raise PlanError(f"{what} {text!r}: {EXPECTED}")
    value = float(match.group(1)) * UNITS[match.group(2).lower()]
    if value < 1 or value != int(value):
        raise PlanError(f"{what} {text!r}: {EXPECTED}")
    return int(value)
