"""`mcutrain plan MODEL --data D --budget 128KB`: choose which layers and channels the device
trains within an SRAM budget (contribution analysis and search, quantize/planning/)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

from host_tools.commands.arguments import positive_int
from host_tools.model_source import MODEL_HELP

DESCRIPTION = """\
Choose a training plan for MODEL on data D within an SRAM budget: fine-tune the model's fp32 twin
on part of D's train split with each candidate update (the biases of the last k layers; each
layer's weights at 1, 1/2, 1/4, 1/8 of its output channels; gradient filtering r = 2, 4), measure
each one's accuracy gain on a held-out part, check a sample of the gains with the golden integer
reference, then search for the plan with the largest summed gain whose training step fits the
budget by the memory model (the lowering itself, which row-streams early blocks when that makes
the step fit). The plan file it writes is what compile --plan, build --plan, train --plan and
baseline --update plan:PATH take; it carries the predicted peak SRAM, instructions per step and gain.
"""

EPILOG = """\
budget: bytes, or a size such as 128KB, 96kb, 0.25MB (KB = 1024 bytes); at most the board's RAM.
Nothing is written when planning fails.
"""


def register(subparsers) -> None:
    from quantize.planning.contribution import AnalysisSettings
    from quantize.planning.planner import DEFAULT_EPOCHS, DEFAULT_LR
    from quantize.planning.search import OBJECTIVES

    defaults = AnalysisSettings()
    parser = subparsers.add_parser("plan", help="choose a training plan within an SRAM budget (sparse update)",
                                   description=DESCRIPTION, epilog=EPILOG,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help=MODEL_HELP)
    parser.add_argument("--data", required=True, help="fashion-mnist, mnist5k, digits, npz:PATH or folder:PATH")
    parser.add_argument("--budget", help="SRAM a training step may take (default: the board's RAM)")
    parser.add_argument("--board", default="qemu-m7", help="the board the plan is for (default qemu-m7)")
    parser.add_argument("--gradient-filter", choices=("auto", "off"), default="auto",
                        help="auto: also try gradient filtering r = 2, 4 (default); off: never filter")
    parser.add_argument("--objective", choices=OBJECTIVES, default="accuracy",
                        help="accuracy: most gain, ties to the fewest instructions (default); speed: the gain in "
                             "whole points, then the fewest instructions")
    parser.add_argument("--time-budget", type=float, metavar="S",
                        help="stop the search's generations after S seconds (the analysis always completes)")
    parser.add_argument("--seed", type=int, default=0, help="analysis split, fine-tuning and search seed (default 0)")
    parser.add_argument("--layers", type=positive_int, default=defaults.max_layers,
                        help=f"parametric layers before the head considered, from the last (default "
                             f"{defaults.max_layers})")
    parser.add_argument("--samples", type=positive_int, default=defaults.train_samples,
                        help=f"train-split samples the twin fine-tunes each candidate on (default "
                             f"{defaults.train_samples}); half as many more are held out to measure the gains")
    parser.add_argument("--lr", type=float, default=DEFAULT_LR,
                        help=f"the device's learning rate written into the plan, cosine-decayed (default {DEFAULT_LR})")
    parser.add_argument("--epochs", type=positive_int, default=DEFAULT_EPOCHS,
                        help=f"epochs the plan is made for (default {DEFAULT_EPOCHS})")
    parser.add_argument("-o", "--out", type=Path, help="write the plan here (default: print it)")
    parser.add_argument("--report", type=Path, metavar="DIR",
                        help="write the contribution table (CSV) and plots into DIR (all or nothing)")
    parser.add_argument("--json", action="store_true", help="print one JSON object (the figures and the plan)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args) -> int:
    from host_tools.errors import McutrainError
    from host_tools.protocol.device import host_model
    from host_tools.protocol.workload import load_samples
    from host_tools.targets import get_target
    from quantize.planning.budget import parse_budget
    from quantize.planning.contribution import AnalysisSettings
    from quantize.planning.planner import PlanRequest, check_budget
    from quantize.planning.report import format_table, plan_rows
    from quantize.tflite_model import parse_tflite

    target = get_target(args.board)
    if not target.ram_budget_bytes:
        raise McutrainError(f"board {args.board!r} has no RAM budget to plan for: expected a firmware board")
    budget = parse_budget(args.budget) if args.budget is not None else target.ram_budget_bytes
    if budget > target.ram_budget_bytes:
        raise McutrainError(f"--budget {args.budget}: {budget} bytes is above {args.board}'s RAM "
                            f"({target.ram_budget_bytes} bytes)")
    if not 0 < args.lr <= 1:
        raise McutrainError(f"--lr {args.lr}: expected a number in (0, 1]")
    _check_outputs(args)
    model = host_model(args.model)
    graph = parse_tflite(model.tflite)
    check_budget(graph, model.name, budget, args.board)  # before the data: a model that cannot fit says so first
    train = load_samples(model, args.data, "train", None)
    analysis = AnalysisSettings(train_samples=args.samples, held_out=max(1, args.samples // 2), max_layers=args.layers,
                                gradient_filter=args.gradient_filter == "auto", seed=args.seed)
    request = PlanRequest(budget, args.board, args.objective, args.seed, args.time_budget, args.lr, args.epochs,
                          args.data, target.ram_budget_bytes)
    outcome = plan_with_progress(model, graph, train, request, analysis, "contribution analysis",
                                 args.no_progress or args.json)
    _write_outputs(args, outcome, graph, budget)
    rows = plan_rows(outcome.result.best, outcome.table, graph)
    if args.json:
        print(json.dumps(_json_report(outcome, rows, args), indent=2))
        return 0
    best, table = outcome.result.best, outcome.table
    print(f"{model.name} on {train.description}, budget {budget} bytes on {args.board}, objective {args.objective}")
    print(format_table(rows))
    k = sum(1 for layer in best.plan.layers if layer.bias and not layer.weights)
    print(f"held-out accuracy (fp32 twin, Adam {table.lr:g}): model as it is {table.before:.3f}, head alone "
          f"{table.head_accuracy:.3f}; "
          f"predicted gain {100 * best.gain:+.1f} points (bias-only layers: {k})")
    print(f"predicted: peak SRAM {best.peak} of {budget} bytes, {best.instructions:,} instructions per step, "
          f"{best.trainable_bytes} trainable bytes, {best.streamed} early unit(s) row-streamed; "
          f"{outcome.result.evaluated} candidates lowered in "
          f"{outcome.result.generations} generations, {outcome.seconds:.0f} s")
    for row in table.golden:
        print(f"golden check: {row['kind']} {row['op']} ratio {row['ratio']}: twin gain {100 * row['gain']:+.1f}, "
              f"golden gain {100 * row['golden_gain']:+.1f} points")
    if args.out:
        print(f"wrote {args.out}")
    else:
        print(outcome.plan.to_json(), end="")
    if args.report:
        print(f"wrote {args.report}/ (contribution.csv, golden_check.csv, gain_per_layer.png, memory.png)")
    return 0


def _check_outputs(args) -> None:
    """Refuses, before any work, outputs that could not be written."""
    from host_tools.errors import McutrainError

    if args.out and args.out.is_dir():
        raise McutrainError(f"-o {args.out}: is a folder, expected a plan file path")
    if args.report and args.report.exists() and not args.report.is_dir():
        raise McutrainError(f"--report {args.report}: exists and is not a folder")



def plan_with_progress(model, graph, train, request, analysis, title: str, quiet: bool):
    """make_plan on the train samples, with a progress bar over the analysis's candidates (mcutrain
    plan and mcutrain demo)."""
    from host_tools.protocol.metrics import progress_bar
    from quantize.planning.contribution import candidate_count
    from quantize.planning.planner import make_plan

    bar = progress_bar(candidate_count(graph, analysis), title, quiet)
    bar.unit = "candidate"

    def progress(advance: int, text: str) -> None:
        bar.set_postfix_str(text[-30:], refresh=False)
        bar.update(advance)

    try:
        return make_plan(model.tflite, graph, model.name, train.x, train.y, request, analysis, progress)
    finally:
        bar.close()

def _write_outputs(args, outcome, graph, budget: int) -> None:
    """The plan file and the report folder, each written whole or not at all."""
    from quantize.planning.report import write_report

    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{args.report.name}.", dir=args.report.parent))
        try:
            write_report(staging, outcome.table, outcome.result.best, budget, args.board)
            (staging / "plan.json").write_text(outcome.plan.to_json())
            if args.report.exists():
                shutil.rmtree(args.report)
            staging.rename(args.report)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        partial = args.out.with_name(f".{args.out.name}.partial")
        partial.write_text(outcome.plan.to_json())
        os.replace(partial, args.out)


def _json_report(outcome, rows, args) -> dict:
    best = outcome.result.best
    return {"seconds": round(outcome.seconds, 1), "predicted_peak_sram_bytes": best.peak,
            "predicted_instructions_per_step": best.instructions, "predicted_gain": round(best.gain, 4),
            "trained_params": sum(row.params for row in rows), "budget_bytes": best.plan.sram_budget,
            "board": args.board, "objective": args.objective, "seed": args.seed,
            "head_accuracy": round(outcome.table.head_accuracy, 4), "before_accuracy": round(outcome.table.before, 4),
            "analysis_lr": outcome.table.lr,
            "trainable_bytes": best.trainable_bytes, "streamed_units": best.streamed, "candidates_lowered": outcome.result.evaluated,
            "generations": outcome.result.generations, "stopped_by_time": outcome.result.stopped_by_time,
            "layers": [row.as_dict() for row in rows], "golden_check": outcome.table.golden,
            "plan_file": str(args.out) if args.out else None, "plan": outcome.plan.to_dict()}
