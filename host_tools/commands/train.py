"""`mcutrain train --data D [--epochs E] [--limit N]`: stream labelled samples to the device, which
updates its trainable parameters one sample at a time; one CSV row per step."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from host_tools.commands.arguments import positive_int
from host_tools.commands.infer import add_data_arguments, check_device_model
from host_tools.protocol.device import add_device_arguments, add_progress_argument, host_model, open_device
from host_tools.protocol.errors import DeviceError
from host_tools.protocol.messages import ErrorCode
from host_tools.protocol.metrics import TRAIN_COLUMNS, MetricsCsv, Running, instructions, progress_bar
from host_tools.protocol.workload import load_samples
from host_tools.targets import EMULATED

DEFAULT_CSV = Path("train_metrics.csv")


def register(subparsers) -> None:
    parser = subparsers.add_parser("train", help="train the device on a dataset, one sample at a time")
    add_device_arguments(parser)
    add_data_arguments(parser, split="train", limit=None)
    parser.add_argument("--epochs", type=positive_int, default=1, help="passes over the samples (default 1)")
    parser.add_argument("--lr", type=float, default=0.01, help="learning rate, in (0, 1] (default 0.01)")
    parser.add_argument("--gradient-filter", action=argparse.BooleanOptionalAction, default=False,
                        help="gradient filtering in the convolutions' backward pass (default off)")
    parser.add_argument("--seed", type=int, default=1, help="device seed and host shuffle seed, non-zero (default 1)")
    parser.add_argument("--no-shuffle", action="store_true", help="keep the dataset order in every epoch")
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV, help=f"per-step metrics file (default {DEFAULT_CSV})")
    add_progress_argument(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    if args.epochs < 1:
        raise DeviceError(ErrorCode.BAD_VALUE, f"--epochs {args.epochs}: expected at least 1", "train")
    model = host_model(args.model, args.plan)
    samples = load_samples(model, args.data, args.split, args.limit)
    rng = np.random.default_rng(args.seed)
    running = Running()
    with open_device(args, quiet=args.json) as device, MetricsCsv(args.csv, TRAIN_COLUMNS) as metrics:
        info = device.info()
        check_device_model(info, model)
        emulated = info.board in EMULATED
        device.set_config(args.lr, args.gradient_filter, args.seed)
        step = 0
        with progress_bar(len(samples) * args.epochs, "train", args.no_progress) as bar:
            for epoch in range(args.epochs):
                order = np.arange(len(samples)) if args.no_shuffle else rng.permutation(len(samples))
                # Pipelined: the next sample crosses the link while the device trains on this one.
                results = device.train_many((samples.x[index], int(samples.y[index])) for index in order)
                for index in order:
                    label = int(samples.y[index])
                    try:
                        result = next(results)
                    except DeviceError as err:
                        if err.code == ErrorCode.NOT_IN_THIS_BUILD:
                            raise DeviceError(err.code, f"the firmware on {device.url} has no on-device training "
                                              "in this build (it serves INFER only); flash a firmware with the "
                                              "training engine", "TRAIN") from None
                        raise
                    running.add(result.correct, result.loss)
                    metrics.write(epoch=epoch, step=step, sample=int(index), label=label, predicted=result.predicted,
                                  correct=int(result.correct), loss=f"{result.loss:.6f}",
                                  running_loss=f"{running.loss:.6f}", running_accuracy=f"{running.accuracy:.6f}",
                                  instructions=instructions(result.ticks, info.counter_hz, emulated))
                    step += 1
                    bar.update(1)
                    bar.set_postfix(loss=f"{running.loss:.3f}", acc=f"{running.accuracy:.3f}")
        stats = device.stats()
    report = {"model": info.model_name, "board": info.board, "data": samples.description, "epochs": args.epochs,
              "steps": running.steps, "running_loss": running.loss, "running_accuracy": running.accuracy,
              "device_samples_trained": stats.samples_trained, "peak_sram_last_step": stats.peak_sram_last_step,
              "csv": str(args.csv)}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"trained {running.steps} steps ({args.epochs} epochs of {samples.description}): running loss "
              f"{running.loss:.4f}, accuracy {running.accuracy:.4f}; per-step metrics in {args.csv}")
    return 0
