"""`mcutrain demo` (what `make demo` runs): the whole promise on an emulated board, no hardware and no
downloads. It builds the firmware with `ref` (pretrained on Fashion-MNIST) and its `demo` training
plan, boots it in QEMU, measures the device's accuracy on the MNIST test split, trains the device
on the MNIST train split one sample at a time, measures its accuracy again, and prints a summary:
accuracy before and after, the fp32 yardstick for the same trained parameters (TensorFlow), peak
SRAM against the board's budget, instructions per training step, and whether the host's golden
reference (simulating the same run in a second process meanwhile) agrees with the device bit for bit.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import time
import zlib

import numpy as np

from host_tools.commands.arguments import positive_int
from host_tools.errors import McutrainError
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
    from host_tools.banner import read_banner
    from host_tools.commands.eval import evaluate
    from host_tools.commands.infer import check_device_model
    from host_tools.commands.train import describe_rate, run_plan, sample_order, train_on_device
    from host_tools.emulator import Emulator
    from host_tools.firmware_build import build_with_model
    from host_tools.protocol.device import host_model
    from host_tools.protocol.session import Session
    from host_tools.protocol.workload import load_samples
    from quantize.blob import read_header

    started = time.monotonic()
    model = host_model(DEMO_MODEL, DEMO_PLAN)
    train = load_samples(model, DEMO_DATA, "train", args.limit)
    test = load_samples(model, DEMO_DATA, "test", args.test_limit)
    plan = run_plan(model.training_plan, None, "cosine", len(train) * args.epochs)
    order = sample_order(len(train), args.epochs, DEMO_SEED, True)
    header = read_header(model.blob)
    print(f"mcutrain demo: {DEMO_MODEL} pretrained on Fashion-MNIST, trained on the device on {DEMO_DATA} "
          f"(plan '{DEMO_PLAN}': {len(plan.layers)} layers, {header['trainable_size']} trainable bytes, "
          f"{describe_rate(plan)})")

    result = build_with_model(args.board, model.tflite, model.name, model.origin, plan=model.plan)
    print(f"[1/5] built {result.usage_line()}")
    # The golden reference simulates the same run meanwhile, on the other core.
    pool = concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"))
    lowered_layout = _layout(model)
    golden = pool.submit(_simulate, model.tflite, plan, lowered_layout, header["trainable_size"], train.x, train.y,
                         order, test.x, test.y)
    try:
        with Emulator(args.board, result.elf) as emulator:
            link = emulator.connect()
            read_banner(link)
            print(f"[2/5] booted in QEMU {emulator.target.qemu_machine}, serial port {emulator.url}")
            with Session(link, url=emulator.url) as device:
                info = device.info()
                check_device_model(info, model)
                before = evaluate(device, info, test, None, args.no_progress)
                print(f"[3/5] accuracy before training {before.accuracy:.4f} on {test.description}")
                print(f"[4/5] training on the device: {len(order)} steps ({args.epochs} epoch(s) of "
                      f"{train.description}) ...")
                trained = train_on_device(device, info, train, args.epochs, plan.lr_at, DEMO_SEED, True, None,
                                          args.no_progress)
                device_crc = device.trainable_crc()[1]
                stats = device.stats()
                after = evaluate(device, info, test, None, args.no_progress)
                print(f"[5/5] accuracy after training {after.accuracy:.4f} on {test.description}")
        simulated = golden.result()
    finally:
        pool.shutdown(cancel_futures=True)
    baseline = None if args.no_baseline else _baseline(plan, args.epochs, args.limit, args.test_limit)
    agree = _golden_agreement(trained, simulated, device_crc)
    rows = [("accuracy before", f"{before.accuracy:.4f}"), ("accuracy after", f"{after.accuracy:.4f}"),
            ("fp32 yardstick (same parameters)", "skipped" if baseline is None else f"{baseline:.4f}"),
            ("golden reference accuracy", f"{simulated['accuracy']:.4f}"),
            ("peak SRAM", f"{stats.peak_sram_last_step} / {info.ram_budget} bytes"),
            ("instructions per training step", f"{int(np.mean(trained.instructions)):,}"),
            ("wall time", f"{time.monotonic() - started:.0f} s")]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"      {name:<{width}}  {value}")
    print(agree["message"])
    return 0 if agree["ok"] else 1


def _layout(model):
    from quantize.lower import lower_tflite

    return lower_tflite(model.tflite, model.name, plan=model.plan).trainable_layout


def _simulate(tflite, plan, layout, region_size, x, y, order, test_x, test_y) -> dict:
    """The golden run (a worker process): per-step losses and predictions, the final region's CRC,
    and the trained golden model's test accuracy."""
    from quantize.training.simulate import golden_accuracy, simulate_training

    run = simulate_training(tflite, plan, layout, region_size, x, y, order, plan.lr_at, DEMO_SEED, plan.qas)
    return {"losses": run.losses_q16, "predicted": run.predicted, "crc": zlib.crc32(run.region),
            "accuracy": golden_accuracy(run.trainer, test_x, test_y)}


def _golden_agreement(trained, simulated: dict, device_crc: int) -> dict:
    steps = len(trained.losses_q16)
    same = int(np.sum((np.asarray(trained.losses_q16) == simulated["losses"])
                      & (np.asarray(trained.predicted) == simulated["predicted"])))
    ok = same == steps and device_crc == simulated["crc"]
    regions = "bit-exact" if device_crc == simulated["crc"] else "DIFFERENT"
    return {"ok": ok, "message": f"host golden reference agrees: {same}/{steps} steps (loss, prediction) equal, "
                                 f"final trainable parameters {regions} (CRC-32 0x{device_crc:08x})"}


def _baseline(plan, epochs: int, limit: int | None, test_limit: int | None) -> float:
    """TensorFlow fp32 fine-tuning of the same parameters with the same rates and epochs."""
    import tempfile
    from pathlib import Path

    from quantize.finetune import run_baseline

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "plan.json"
        path.write_text(plan.to_json())
        try:
            return run_baseline(DEMO_MODEL, DEMO_DATA, f"plan:{path}", epochs=epochs, limit=limit,
                                test_limit=test_limit).test_accuracy
        except McutrainError as err:
            raise McutrainError(f"fp32 yardstick: {err}") from None
