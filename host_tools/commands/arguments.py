"""Argument types shared by the subcommands, so a bad count is refused while parsing, before any
build or emulator starts."""

from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    """A count of at least 1 (samples, epochs, batch size)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {value}")
    return value
