"""`mcutrain emulate --board qemu-m7`: build if needed, run in QEMU, print the serial URL."""

from __future__ import annotations

from pathlib import Path

from host_tools.emulator import serve
from host_tools.firmware_build import build
from host_tools.targets import EMULATED


def register(subparsers) -> None:
    parser = subparsers.add_parser("emulate", help="run the firmware in QEMU with its UART on a local TCP port")
    parser.add_argument("--board", choices=EMULATED, default="qemu-m7")
    parser.add_argument("--elf", type=Path, help="run this image instead of building the board's firmware")
    parser.set_defaults(func=run)


def run(args) -> int:
    elf = args.elf if args.elf else build(args.board).elf
    return serve(args.board, elf)
