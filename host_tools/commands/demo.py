"""`mcutrain demo` (what `make demo` runs): build the firmware with the `ref` model for qemu-m7, boot
it, show its banner, then classify Fashion-MNIST test images on the device and check every logit
against the host's golden reference."""

from __future__ import annotations

from host_tools.banner import read_banner
from host_tools.commands.arguments import positive_int
from host_tools.emulator import Emulator
from host_tools.targets import EMULATED

DEMO_MODEL = "ref"
DEMO_SAMPLES = 200


def register(subparsers) -> None:
    parser = subparsers.add_parser("demo", help="build with the ref model, boot in the emulator, classify on the device")
    parser.add_argument("--board", choices=EMULATED, default="qemu-m7")
    parser.add_argument("--limit", type=positive_int, default=DEMO_SAMPLES, help=f"test images to classify (default {DEMO_SAMPLES})")
    parser.set_defaults(func=run)


def run(args) -> int:
    from host_tools.cli import build_parser
    from host_tools.commands import infer
    from host_tools.firmware_build import build_with_model
    from host_tools.model_source import resolve_model

    source = resolve_model(DEMO_MODEL)
    result = build_with_model(args.board, source.tflite, source.name, source.origin)
    print(f"[1/3] built {result.usage_line()} (model {source.name} linked in)")
    with Emulator(args.board, result.elf) as emu:
        print(f"[2/3] booted in QEMU {emu.target.qemu_machine}, serial port {emu.url}")
        fields, _ = read_banner(emu.connect())
    width = max(len(key) for key in fields)
    for key, value in fields.items():
        print(f"      {key:<{width}}  {value}")
    print(f"[3/3] classifying {args.limit} Fashion-MNIST test images on the device (mcutrain infer) ...")
    infer_args = build_parser().parse_args(
        ["infer", "--board", args.board, "--model", DEMO_MODEL, "--data", "fashion-mnist", "--split", "test",
         "--limit", str(args.limit), "--no-progress"])
    return infer.run(infer_args)
