"""`mcutrain build --board B`: build the firmware for one target and print its flash and RAM use."""

from __future__ import annotations

from host_tools.firmware_build import build
from host_tools.targets import FIRMWARE


def register(subparsers) -> None:
    parser = subparsers.add_parser("build", help="build the firmware for a target")
    parser.add_argument("--board", choices=FIRMWARE + ["native"], default="qemu-m7")
    parser.add_argument("-v", "--verbose", action="store_true", help="show PlatformIO's output")
    parser.set_defaults(func=run)


def run(args) -> int:
    result = build(args.board, verbose=args.verbose)
    print(result.usage_line())
    print(f"image: {result.elf}")
    return 0
