"""`mcutrain demo` (what `make demo` runs): the whole promise on an emulated board, no hardware and no
downloads: reuse the committed int8 model, plan within the SRAM budget, build, boot QEMU, measure the
device's accuracy, train it one sample at a time, measure again, then print a summary beside the fp32
yardstick and write the report folder. The pipeline is host_tools/demo.py, the folder
host_tools/demo_report.py."""

from __future__ import annotations

import json
from pathlib import Path

from host_tools.commands.arguments import positive_int
from host_tools.model_source import MODEL_HELP
from host_tools.targets import EMULATED

DEFAULT_REPORT = Path("demo-report")


def register(subparsers) -> None:
    from host_tools import demo

    parser = subparsers.add_parser("demo", help="plan within a budget, train on the emulated device, report")
    parser.add_argument("--board", choices=EMULATED, default="qemu-m7",
                        help="qemu-m7 (256 KB) or qemu-stm32f405 (192 KB); default qemu-m7")
    parser.add_argument("--model", default=demo.DEFAULT_MODEL,
                        help=f"{MODEL_HELP} (default {demo.DEFAULT_MODEL}, pretrained on Fashion-MNIST; "
                             "with your model, its .keras beside it gives the fp32 yardstick)")
    parser.add_argument("--data", default=demo.DEFAULT_DATA,
                        help=f"the data the device learns: fashion-mnist, mnist5k, digits, npz:PATH or folder:PATH "
                             f"(default {demo.DEFAULT_DATA})")
    parser.add_argument("--budget", help="SRAM a training step may take, e.g. 128KB (default: the board's RAM)")
    parser.add_argument("--plan", help="train with this plan (a file or a name of the model's plans) instead of "
                                       "planning")
    parser.add_argument("--epochs", type=positive_int, default=demo.DEFAULT_EPOCHS,
                        help=f"default {demo.DEFAULT_EPOCHS}")
    parser.add_argument("--limit", type=positive_int,
                        help="train on N training samples, drawn stratified by class (seed 0)")
    parser.add_argument("--test-limit", type=positive_int,
                        help="evaluate on N test samples, drawn stratified by class (seed 0)")
    parser.add_argument("--seed", type=positive_int, default=demo.DEFAULT_SEED,
                        help=f"device and shuffle seed (default {demo.DEFAULT_SEED})")
    parser.add_argument("--report", type=Path, default=DEFAULT_REPORT, metavar="DIR",
                        help=f"the report folder, written whole or not at all (default {DEFAULT_REPORT}/)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the fp32 yardstick (TensorFlow)")
    parser.add_argument("--json", action="store_true", help="print summary.json instead of the table")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)


def run(args) -> int:
    import sys

    from host_tools.demo import DemoSettings, run_demo
    from host_tools.demo_report import ReportFolder
    from host_tools.device_training import agreement_line
    from quantize.planning.budget import parse_budget

    settings = DemoSettings(args.board, args.model, args.data,
                            parse_budget(args.budget) if args.budget is not None else None, args.plan, args.epochs,
                            args.limit, args.test_limit, args.seed, not args.no_baseline,
                            args.no_progress or args.json)
    say = (lambda text: print(text, file=sys.stderr)) if args.json else print
    say(f"mcutrain demo: {settings.model} on {settings.board}, learning {settings.data} on the device")
    with ReportFolder(args.report) as report:
        summary, device_run = run_demo(settings, report.metrics, say)
        report.finish(summary)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print_summary(summary)
        print(agreement_line(device_run))
        print(f"report: {args.report}/ (summary.json, metrics.csv, curves.png, memory.png)")
    return 0 if device_run.bit_exact else 1


def print_summary(summary: dict) -> None:
    baseline = summary["baseline_fp32_accuracy"]
    rows = [("accuracy before training", f"{summary['accuracy_before']:.4f}"),
            ("accuracy after training", f"{summary['accuracy_after']:.4f}"),
            ("fp32 yardstick (same parameters)", summary["baseline_fp32_note"] if baseline is None
             else f"{baseline:.4f} ({100 * (summary['accuracy_after'] - baseline):+.1f} points on the device)"),
            ("golden reference accuracy", f"{summary['golden_accuracy']:.4f}"),
            ("peak SRAM", f"{summary['peak_sram_bytes']:,} of {summary['ram_budget_bytes']:,} bytes budget"),
            ("instructions per training step", f"{summary['instructions_per_step']:,}"),
            ("samples per second", f"{summary['samples_per_second']:.1f} (emulator, wall clock)"),
            ("energy per training step", f"{summary['energy_per_step_uj']:,.1f} uJ on {summary['energy_board']} "
                                         "(estimate; sources in summary.json)"),
            ("wall time", f"{summary['wall_seconds']:.0f} s")]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"      {name:<{width}}  {value}")
