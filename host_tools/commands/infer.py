"""`mcutrain infer --data D --split test --limit N`: forward passes on the device, checked against
the host reference (the numpy golden model, bit-exact with TFLM) on the same int8 bytes."""

from __future__ import annotations

import json

import numpy as np

from host_tools.commands.arguments import positive_int
from host_tools.errors import McutrainError
from host_tools.protocol.device import add_device_arguments, add_progress_argument, host_model, open_device
from host_tools.protocol.metrics import Running, instructions, progress_bar
from host_tools.protocol.workload import load_samples, reference_logits
from host_tools.targets import EMULATED


def register(subparsers) -> None:
    parser = subparsers.add_parser("infer", help="run forward passes on the device and check them against the host")
    add_device_arguments(parser)
    add_data_arguments(parser, split="test", limit=100)
    parser.add_argument("--no-check", action="store_true", help="skip the comparison with the host reference")
    add_progress_argument(parser)
    parser.set_defaults(func=run)


def add_data_arguments(parser, *, split: str, limit: int | None) -> None:
    parser.add_argument("--data", default="fashion-mnist",
                        help="dataset: fashion-mnist, mnist5k, digits, npz:PATH or folder:PATH (default fashion-mnist)")
    parser.add_argument("--split", choices=("train", "test"), default=split, help=f"split to use (default {split})")
    parser.add_argument("--limit", type=positive_int, default=limit,

                                                                        help="use N samples, drawn stratified by class (seed 0)" + (f" (default {limit})" if limit else ""))


def check_device_model(info, model) -> None:
    """Refuses a device whose model is not the host's (the comparison would be meaningless)."""
    if not info.has_model:
        raise McutrainError(f"the device has no model ({info.model_reason}); build its firmware with --model")
    expected = model.blob_hash
    if info.model_hash != expected:
        raise McutrainError(
            f"the device runs model {info.model_name} (hash 0x{info.model_hash:08x}), the host's --model "
            f"{model.name} compiles to hash 0x{expected:08x}: pass the --model the firmware was built with")


def run(args) -> int:
    model = host_model(args.model, args.plan)
    samples = load_samples(model, args.data, args.split, args.limit)
    with open_device(args, quiet=args.json) as device:
        info = device.info()
        check_device_model(info, model)
        emulated = info.board in EMULATED
        predicted = np.empty(len(samples), dtype=np.int64)
        logits = np.empty((len(samples), info.output_bytes), dtype=np.int8)
        ticks = np.empty(len(samples), dtype=np.int64)
        running = Running()
        with progress_bar(len(samples), "infer", args.no_progress) as bar:
            # Pipelined: the next sample crosses the link while the device computes this one.
            for i, (result, y) in enumerate(zip(device.infer_many(samples.x), samples.y)):
                predicted[i], ticks[i] = result.predicted, result.ticks
                logits[i] = np.frombuffer(result.logits, dtype=np.int8)
                running.add(result.predicted == y)
                bar.set_postfix(acc=f"{running.accuracy:.3f}", refresh=False)
                bar.update(1)
    report = {
        "model": info.model_name,
        "board": info.board,
        "data": samples.description,
        "samples": len(samples),
        "correct": running.correct,
        "accuracy": running.accuracy,
        "mean_instructions" if emulated else "mean_cycles":
            int(np.mean([instructions(int(t), info.counter_hz, emulated) for t in ticks])),
    }
    mismatches: list[int] = []
    if not args.no_check:
        reference = reference_logits(model, samples.x)
        agree_class = int(np.sum(np.argmax(reference, axis=1) == predicted))
        agree_logits = int(np.sum(np.all(reference == logits, axis=1)))
        mismatches = [int(i) for i in np.nonzero(np.any(reference != logits, axis=1))[0]]
        report.update(reference_agrees_predictions=agree_class, reference_agrees_logits=agree_logits)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"device accuracy {report['accuracy']:.4f} ({running.correct}/{len(samples)}) on {samples.description}, "
              f"model {info.model_name} on {info.board}")
        if not args.no_check:
            print(f"host reference agrees: {report['reference_agrees_predictions']}/{len(samples)} predictions, "
                  f"{report['reference_agrees_logits']}/{len(samples)} logits bit-exact")
    if mismatches:
        first = mismatches[0]
        raise McutrainError(f"device and host reference differ on {len(mismatches)} of {len(samples)} samples "
                            f"(first: sample {first}, device logits {logits[first].tolist()}, "
                            f"reference {reference[first].tolist()})")
    return 0
