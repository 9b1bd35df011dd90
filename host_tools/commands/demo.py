"""`mcutrain demo` (what `make demo` runs): build for qemu-m7, boot it, show what the device says."""

from __future__ import annotations

from host_tools.banner import read_banner
from host_tools.emulator import Emulator
from host_tools.firmware_build import build
from host_tools.targets import EMULATED


def register(subparsers) -> None:
    parser = subparsers.add_parser("demo", help="build, boot in the emulator and show the device's banner")
    parser.add_argument("--board", choices=EMULATED, default="qemu-m7")
    parser.set_defaults(func=run)


def run(args) -> int:
    result = build(args.board)
    print(f"[1/2] built {result.usage_line()}")
    with Emulator(args.board, result.elf) as emu:
        print(f"[2/2] booted in QEMU {emu.target.qemu_machine}, serial port {emu.url}")
        fields, _ = read_banner(emu.connect())
    width = max(len(key) for key in fields)
    for key, value in fields.items():
        print(f"      {key:<{width}}  {value}")
    return 0
