"""`mcutrain train --data D [--epochs E] [--limit N] [--eval SPLIT] [--checkpoint-out FILE]`: stream
labelled samples to the device, which updates its trainable parameters one sample at a time (one
CSV row per step); then, in the same session, optionally measure the device's accuracy and save
its parameters (an emulator started by --board dies with the command)."""

from __future__ import annotations

import argparse
import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from host_tools.commands.arguments import positive_int
from host_tools.commands.infer import add_data_arguments, check_device_model
from host_tools.protocol.device import add_device_arguments, add_progress_argument, host_model, open_device
from host_tools.protocol.errors import DeviceError
from host_tools.protocol.messages import ErrorCode
from host_tools.protocol.metrics import TRAIN_COLUMNS, MetricsCsv, Running, instructions, progress_bar
from host_tools.protocol.workload import Samples, load_samples
from host_tools.targets import EMULATED
from quantize.training.schedule import SEGMENT_STEPS, segment_rate
from quantize.training_plan import LrSchedule, TrainingPlan

DEFAULT_CSV = Path("train_metrics.csv")
SCHEDULES = ("constant", "cosine")


def register(subparsers) -> None:
    parser = subparsers.add_parser("train", help="train the device on a dataset, one sample at a time")
    add_device_arguments(parser)
    add_data_arguments(parser, split="train", limit=None)
    parser.add_argument("--epochs", type=positive_int, default=1, help="passes over the samples (default 1)")
    parser.add_argument("--lr", type=float, default=None,
                        help="learning rate, in (0, 1] (default: the training plan's)")
    parser.add_argument("--lr-schedule", choices=SCHEDULES, default=None,
                        help="constant, or cosine decay to 0 over this run's steps (default: the plan's)")
    parser.add_argument("--gradient-filter", action=argparse.BooleanOptionalAction, default=True,
                        help="gradient filtering on the layers the plan marks (gradient_filter r > 1; default on): "
                             "--no-gradient-filter runs them on the unfiltered error")
    parser.add_argument("--seed", type=int, default=1, help="device seed and host shuffle seed, non-zero (default 1)")
    parser.add_argument("--no-shuffle", action="store_true", help="keep the dataset order in every epoch")
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV, help=f"per-step metrics file (default {DEFAULT_CSV})")
    parser.add_argument("--checkpoint", type=Path, help="load these trainable parameters into the device first")
    parser.add_argument("--eval", choices=("train", "test"), dest="eval_split",
                        help="after training, measure the device's accuracy on this split of --data")
    parser.add_argument("--eval-limit", type=positive_int,
                        help="evaluate on N samples of that split, drawn stratified by class (seed 0)")
    parser.add_argument("--checkpoint-out", type=Path, help="after training, save the trained parameters to FILE")
    add_progress_argument(parser)
    parser.set_defaults(func=run)


def run_plan(plan: TrainingPlan, lr: float | None, schedule: str | None, total_steps: int) -> TrainingPlan:
    """The plan with --lr and --lr-schedule applied (a cosine given here decays over this run's
    steps); its lr_at gives every step's rate."""
    rate = plan.lr if lr is None else lr
    if not (0.0 < rate <= 1.0):
        raise DeviceError(ErrorCode.BAD_VALUE, f"--lr {rate}: expected a value in (0, 1]", "train")
    if schedule is None:
        return dataclasses.replace(plan, lr=rate)
    return dataclasses.replace(plan, lr=rate, lr_schedule=LrSchedule(schedule, total_steps if schedule == "cosine" else 0))


def describe_rate(plan: TrainingPlan) -> str:
    schedule = plan.lr_schedule
    return f"lr {plan.lr:g}" + (f" cosine over {schedule.steps} steps" if schedule.kind == "cosine" else "")


@dataclass
class DeviceRun:
    """What a training run on the device returned, step by step."""

    running: Running
    order: np.ndarray                                   # sample index of each step
    losses_q16: list[int] = field(default_factory=list)
    predicted: list[int] = field(default_factory=list)
    instructions: list[int] = field(default_factory=list)  # per step (cycles on silicon)


def sample_order(count: int, epochs: int, seed: int, shuffle: bool) -> np.ndarray:
    """The sample index of every step: each epoch a permutation drawn with `seed`."""
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.permutation(count) if shuffle else np.arange(count) for _ in range(epochs)])


def constant_rate_spans(lr_at: Callable[[int], float], total: int) -> list[tuple[int, int, float]]:
    """(first step, end step, rate) of each run of SEGMENT_STEPS-step segments that share a learning
    rate. Each is one pipelined stream: a new rate needs a SET_CONFIG between two TRAINs, and a
    stream that ends leaves the device idle while the next one's first sample is uploaded."""
    spans: list[tuple[int, int, float]] = []
    for start in range(0, total, SEGMENT_STEPS):
        rate = segment_rate(lr_at, start)
        stop = min(start + SEGMENT_STEPS, total)
        if spans and spans[-1][2] == rate:
            spans[-1] = (spans[-1][0], stop, rate)
        else:
            spans.append((start, stop, rate))
    return spans


def train_on_device(device, info, samples: Samples, epochs: int, lr_at: Callable[[int], float], seed: int,
                    shuffle: bool, metrics: MetricsCsv | None, no_progress: bool,
                    gradient_filter: bool = True) -> DeviceRun:
    """Trains the device on `samples` for `epochs`, shuffled per epoch with `seed`; the learning
    rate follows lr_at in SEGMENT_STEPS-step segments (quantize/training/schedule.py); the plan's
    gradient filters on or off (SET_CONFIG's flag)."""
    running = Running()
    emulated = info.board in EMULATED
    total = len(samples) * epochs
    order = sample_order(len(samples), epochs, seed, shuffle)
    run = DeviceRun(running, order)
    step = 0
    rate = None
    with progress_bar(total, "train", no_progress) as bar:
        for start, stop, span_rate in constant_rate_spans(lr_at, total):
            if span_rate != rate:
                rate = span_rate
                device.set_config(rate, gradient_filter, seed)
            segment = order[start:stop]
            # Pipelined: the next sample crosses the link while the device trains on this one.
            results = device.train_many((samples.x[index], int(samples.y[index])) for index in segment)
            for index in segment:
                result = _next_result(results, device)
                label = int(samples.y[index])
                running.add(result.correct, result.loss)
                run.losses_q16.append(result.loss_q16)
                run.predicted.append(result.predicted)
                run.instructions.append(instructions(result.ticks, info.counter_hz, emulated))
                if metrics is not None:
                    metrics.write(epoch=step // len(samples), step=step, sample=int(index), label=label,
                                  predicted=result.predicted, correct=int(result.correct), loss=f"{result.loss:.6f}",
                                  running_loss=f"{running.loss:.6f}", running_accuracy=f"{running.accuracy:.6f}",
                                  instructions=instructions(result.ticks, info.counter_hz, emulated))
                step += 1
                # refresh=False: drawn at update's next throttled refresh, not once per step (~0.25 ms each)
                bar.set_postfix(loss=f"{running.loss:.3f}", acc=f"{running.accuracy:.3f}", refresh=False)
                bar.update(1)
    return run


def _next_result(results, device):
    try:
        return next(results)
    except DeviceError as err:
        if err.code == ErrorCode.NOT_IN_THIS_BUILD:
            raise DeviceError(err.code, f"the firmware on {device.url} has no on-device training in this build "
                              "(its model blob has no training section); rebuild it with this mcutrain",
                              "TRAIN") from None
        raise


def run(args) -> int:
    from host_tools.commands.checkpoint import load_checkpoint, save_checkpoint
    from host_tools.commands.eval import evaluate

    if args.seed == 0 or not 0 < args.seed < 2 ** 32:
        raise DeviceError(ErrorCode.BAD_VALUE, f"--seed {args.seed}: expected a non-zero 32-bit value", "train")
    model = host_model(args.model, args.plan)
    samples = load_samples(model, args.data, args.split, args.limit)
    eval_samples = load_samples(model, args.data, args.eval_split, args.eval_limit) if args.eval_split else None
    plan = run_plan(model.training_plan, args.lr, args.lr_schedule, len(samples) * args.epochs)
    lr_at, lr_text = plan.lr_at, describe_rate(plan)
    report = {}
    with open_device(args, quiet=args.json) as device, MetricsCsv(args.csv, TRAIN_COLUMNS) as metrics:
        info = device.info()
        check_device_model(info, model)
        if args.checkpoint:
            load_checkpoint(device, info, args.checkpoint, args.no_progress)
        running = train_on_device(device, info, samples, args.epochs, lr_at, args.seed, not args.no_shuffle,
                                  metrics, args.no_progress, args.gradient_filter).running
        stats = device.stats()
        if eval_samples is not None:
            evaluated = evaluate(device, info, eval_samples, None, args.no_progress)
            report.update(eval_data=eval_samples.description, eval_accuracy=evaluated.accuracy,
                          eval_samples=evaluated.steps)
        if args.checkpoint_out:
            save_checkpoint(device, info, args.checkpoint_out, args.no_progress)
            report["checkpoint_out"] = str(args.checkpoint_out)
    report = {"model": info.model_name, "board": info.board, "data": samples.description, "epochs": args.epochs,
              "learning_rate": lr_text, "gradient_filter": args.gradient_filter, "steps": running.steps, "running_loss": running.loss,
              "running_accuracy": running.accuracy, "device_samples_trained": stats.samples_trained,
              "peak_sram_last_step": stats.peak_sram_last_step, "csv": str(args.csv), **report}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"trained {running.steps} steps ({args.epochs} epochs of {samples.description}, {lr_text}): running loss "
          f"{running.loss:.4f}, accuracy {running.accuracy:.4f}; per-step metrics in {args.csv}")
    if eval_samples is not None:
        print(f"device accuracy after training {report['eval_accuracy']:.4f} on {eval_samples.description}")
    if args.checkpoint_out:
        print(f"trained parameters saved to {args.checkpoint_out}")
    return 0
