"""`mcutrain eval --data D --split test`: the device's accuracy with its current parameters,
with one CSV row per sample."""

from __future__ import annotations

import json
from pathlib import Path

from host_tools.commands.infer import add_data_arguments
from host_tools.protocol.device import add_device_arguments, add_progress_argument, host_model, open_device
from host_tools.protocol.metrics import EVAL_COLUMNS, MetricsCsv, Running, instructions, progress_bar
from host_tools.protocol.workload import load_samples
from host_tools.targets import EMULATED

DEFAULT_CSV = Path("eval_metrics.csv")


def register(subparsers) -> None:
    parser = subparsers.add_parser("eval", help="measure the device's accuracy on a dataset split")
    add_device_arguments(parser)
    add_data_arguments(parser, split="test", limit=None)
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV, help=f"per-step metrics file (default {DEFAULT_CSV})")
    parser.add_argument("--checkpoint", type=Path, help="load these trainable parameters (mcutrain checkpoint save, "
                        "train --checkpoint-out) into the device first")
    add_progress_argument(parser)
    parser.set_defaults(func=run)


def evaluate(device, info, samples, metrics: MetricsCsv | None, no_progress: bool) -> Running:
    """The device's accuracy on `samples` with its current parameters; one CSV row per sample."""
    running = Running()
    emulated = info.board in EMULATED
    with progress_bar(len(samples), "eval", no_progress) as bar:
        # Pipelined: the next sample crosses the link while the device computes this one.
        for step, (result, y) in enumerate(zip(device.infer_many(samples.x), samples.y)):
            correct = result.predicted == int(y)
            running.add(correct)
            if metrics is not None:
                metrics.write(step=step, sample=step, label=int(y), predicted=result.predicted, correct=int(correct),
                              running_accuracy=f"{running.accuracy:.6f}",
                              instructions=instructions(result.ticks, info.counter_hz, emulated))
            bar.set_postfix(acc=f"{running.accuracy:.3f}", refresh=False)
            bar.update(1)
    return running


def run(args) -> int:
    from host_tools.commands.checkpoint import load_checkpoint
    from host_tools.commands.infer import check_device_model

    model = host_model(args.model, args.plan)
    samples = load_samples(model, args.data, args.split, args.limit)
    with open_device(args, quiet=args.json) as device, MetricsCsv(args.csv, EVAL_COLUMNS) as metrics:
        info = device.info()
        check_device_model(info, model)
        if args.checkpoint:
            load_checkpoint(device, info, args.checkpoint, args.no_progress)
        running = evaluate(device, info, samples, metrics, args.no_progress)
    report = {"model": info.model_name, "board": info.board, "data": samples.description, "samples": running.steps,
              "correct": running.correct, "accuracy": running.accuracy, "csv": str(args.csv)}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"accuracy {running.accuracy:.4f} ({running.correct}/{running.steps}) on {samples.description}; "
              f"per-step metrics in {args.csv}")
    return 0
