"""`mcutrain build --board B [--model M]`: build the firmware for one target (with a model linked
in) and print its flash and RAM use."""

from __future__ import annotations

from host_tools.firmware_build import build, build_with_model
from host_tools.targets import FIRMWARE


def register(subparsers) -> None:
    parser = subparsers.add_parser("build", help="build the firmware for a target")
    parser.add_argument("--board", choices=FIRMWARE + ["native"], default="qemu-m7")
    parser.add_argument("--model", help="link this model in: a reference model name (ref, mbv2-w0.35-128) or an int8 .tflite")
    parser.add_argument("-v", "--verbose", action="store_true", help="show PlatformIO's output")
    parser.set_defaults(func=run)


def run(args) -> int:
    if args.model:
        from host_tools.model_source import resolve_model

        source = resolve_model(args.model)
        result = build_with_model(args.board, source.tflite, source.name, source.origin, verbose=args.verbose)
    else:
        result = build(args.board, verbose=args.verbose)
    print(result.usage_line())
    print(f"image: {result.elf}")
    return 0
