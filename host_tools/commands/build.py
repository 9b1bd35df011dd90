"""`mcutrain build --board B [--model M]`: build the firmware for one target (with a model linked
in) and print its flash and RAM use."""

from __future__ import annotations

from host_tools.errors import McutrainError
from host_tools.firmware_build import build, build_with_model
from host_tools.model_source import MODEL_HELP
from host_tools.targets import FIRMWARE


def register(subparsers) -> None:
    parser = subparsers.add_parser("build", help="build the firmware for a target")
    parser.add_argument("--board", choices=FIRMWARE + ["native"], default="qemu-m7")
    parser.add_argument("--model", help=f"link this model in: {MODEL_HELP}")
    parser.add_argument("--plan", help="training plan for --model: a JSON file or the name of one of the model's "
                        "plans (see mcutrain compile --help)")
    parser.add_argument("-v", "--verbose", action="store_true", help="show PlatformIO's output")
    parser.set_defaults(func=run)


def run(args) -> int:
    if args.plan and not args.model:
        raise McutrainError("--plan needs --model: a training plan belongs to a model")
    if args.model:
        from host_tools.model_source import resolve_model
        from quantize.training_plan import resolve_plan

        source = resolve_model(args.model)
        plan = resolve_plan(args.plan, source.name) if args.plan else None
        result = build_with_model(args.board, source.tflite, source.name, source.origin, verbose=args.verbose,
                                  plan=plan)
    else:
        result = build(args.board, verbose=args.verbose)
    print(result.usage_line())
    print(f"image: {result.elf}")
    return 0
