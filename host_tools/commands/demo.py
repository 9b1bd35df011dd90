"""`mcutrain demo` (what `make demo` runs): the whole promise on an emulated board, no hardware and no
downloads. It builds the firmware with `ref` (pretrained on Fashion-MNIST) and its `demo` training
plan, boots it in QEMU, measures the device's accuracy on the MNIST test split, trains the device
on the MNIST train split one sample at a time, measures its accuracy again, and prints a summary:
accuracy before and after, the fp32 yardstick for the same trained parameters (TensorFlow), peak
SRAM against the board's budget, instructions per training step, and whether the host's golden
reference (simulating the same run in a second process meanwhile) agrees with the device bit for bit.
"""

from __future__ import annotations

import time

import numpy as np

from host_tools.commands.arguments import positive_int
from host_tools.targets import EMULATED

DEMO_MODEL = "ref"
DEMO_DATA = "mnist5k"
DEMO_PLAN = "demo"
DEMO_EPOCHS = 1
DEMO_SEED = 1


def register(subparsers) -> None:
    parser = subparsers.add_parser("demo", help="train ref on the emulated device and compare with the host")
    parser.add_argument("--board", choices=EMULATED, default="qemu-m7")
    parser.add_argument("--epochs", type=positive_int, default=DEMO_EPOCHS, help=f"default {DEMO_EPOCHS}")
    parser.add_argument("--limit", type=positive_int, help="train on the first N training samples only")
    parser.add_argument("--test-limit", type=positive_int, help="evaluate on the first N test samples only")
    parser.add_argument("--no-baseline", action="store_true", help="skip the fp32 yardstick (TensorFlow)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)


def run(args) -> int:
    from host_tools.commands.train import describe_rate, run_plan
    from host_tools.device_training import agreement_line, fp32_baseline, run_on_emulator
    from host_tools.protocol.device import host_model
    from host_tools.protocol.workload import load_samples
    from quantize.blob import read_header

    started = time.monotonic()
    model = host_model(DEMO_MODEL, DEMO_PLAN)
    train = load_samples(model, DEMO_DATA, "train", args.limit)
    test = load_samples(model, DEMO_DATA, "test", args.test_limit)
    plan = run_plan(model.training_plan, None, "cosine", len(train) * args.epochs)
    print(f"mcutrain demo: {DEMO_MODEL} pretrained on Fashion-MNIST, trained on the device on {DEMO_DATA} "
          f"(plan '{DEMO_PLAN}': {len(plan.layers)} layers, {read_header(model.blob)['trainable_size']} trainable "
          f"bytes, {describe_rate(plan)})")
    stage = iter(range(1, 6))
    run_ = run_on_emulator(args.board, model, train, test, plan, args.epochs, DEMO_SEED, args.no_progress,
                           say=lambda text: print(f"[{next(stage)}/5] {text}"))
    baseline = None if args.no_baseline else fp32_baseline(DEMO_MODEL, DEMO_DATA, plan, args.epochs, args.limit,
                                                            args.test_limit)
    rows = [("accuracy before", f"{run_.before.accuracy:.4f}"), ("accuracy after", f"{run_.after.accuracy:.4f}"),
            ("fp32 yardstick (same parameters)", "skipped" if baseline is None else f"{baseline:.4f}"),
            ("golden reference accuracy", f"{run_.golden_accuracy:.4f}"),
            ("peak SRAM", f"{run_.peak_sram_bytes} / {run_.ram_budget_bytes} bytes"),
            ("instructions per training step", f"{int(np.mean(run_.instructions)):,}"),
            ("wall time", f"{time.monotonic() - started:.0f} s")]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"      {name:<{width}}  {value}")
    print(agreement_line(run_))
    return 0 if run_.bit_exact else 1
