"""`mcutrain bench fleet`: what a fleet gives against training in one place (issue 17's benchmark).

Four runs on the same samples, measured on the same test samples:
    fleet          `mcutrain fleet`: N emulated devices, R rounds, the train samples partitioned (by
                   default Dirichlet(0.5), non-IID), the global model's accuracy after the last round;
    central        one emulated device trained on all the fleet's samples together for the same
                   number of local steps as a fleet device took (R x local epochs x samples per
                   device): the issue's comparison, the fleet against one device given all the data
                   and the same training time;
    central_total  one emulated device trained on all the fleet's samples for as many passes over
                   each sample as the fleet made (R x local epochs): N times the steps, one after
                   another, of a fleet device (the data pooled and the time unbounded);
    fp32           TensorFlow fine-tuning of the same parameters, samples and passes as central_total
                   (the fp32 yardstick).
Each central run follows the plan's schedule over its own steps and is checked against the golden.
With --golden, the fleet and the central runs are the golden reference's on the host
(host_tools/fleet_golden.py), the same figures as the devices' in minutes, without an emulator.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path


def fleet_figures(args, say) -> dict:
    from host_tools.commands.train import run_plan, sample_order
    from host_tools.device_training import fp32_baseline
    from host_tools.fleet_partition import parse_partition
    from host_tools.protocol.device import host_model
    from host_tools.protocol.workload import Samples, load_samples

    model = host_model(args.model, args.plan)
    data = "mnist5k"
    scheme = parse_partition(args.partition)
    train = load_samples(model, data, "train", args.limit * args.devices)
    test = load_samples(model, data, "test", args.test_limit)
    passes = args.rounds * args.local_epochs
    where = "the golden reference" if args.golden else f"emulated {args.board}"
    say(f"fleet: {args.devices} devices ({where}), {args.rounds} rounds, {train.description} partitioned "
        f"{args.partition}")
    fleet = (_golden_fleet if args.golden else _device_fleet)(args, model, train, test, scheme)
    # As many steps as a fleet device's (its samples x passes, the devices' mean), drawn from all
    # the samples: every sample once per pass, the last pass cut short.
    steps = passes * round(len(train) / args.devices)
    drawn = sample_order(len(train), -(-steps // len(train)), args.seed, True)[:steps]
    same_steps = Samples(train.x[drawn], train.y[drawn], train.class_names,
                         f"{steps} draws from {train.description}")
    central_run = _golden_central if args.golden else _device_central
    say(f"central: one device ({where}), {steps} steps (a fleet device's) over the same {len(train)} samples")
    central = central_run(args, model, same_steps, test, run_plan(model.training_plan, None, None, steps), 1, say)
    say(f"central_total: one device ({where}), {passes} passes over the same {len(train)} samples")
    plan = run_plan(model.training_plan, None, None, len(train) * passes)
    central_total = central_run(args, model, train, test, plan, passes, say)
    say("fp32: TensorFlow fine-tuning of the same parameters")
    fp32 = fp32_baseline(model.name, data, plan, passes, len(train), args.test_limit)
    last = fleet["rounds"][-1]["global_accuracy"]
    return {
        "board": "golden" if args.golden else args.board, "model": model.name,
        "plan": model.training_plan.name, "data": data,
        "devices": args.devices, "rounds": args.rounds, "local_epochs": args.local_epochs,
        "partition": args.partition, "samples_per_device": fleet["samples_per_device"],
        "test_samples": len(test), "seed": args.seed,
        "fleet_accuracy_per_round": [r["global_accuracy"] for r in fleet["rounds"]],
        "fleet_accuracy": last, "central_steps": steps, "central_accuracy": central["accuracy"],
        "central_total_steps": len(train) * passes, "central_total_accuracy": central_total["accuracy"],
        "fp32_accuracy": fp32,
        "fleet_minus_central_points": round(100 * (last - central["accuracy"]), 2),
        "fleet_minus_central_total_points": round(100 * (last - central_total["accuracy"]), 2),
        "central_bit_exact_with_golden": None if args.golden else central["bit_exact"] and central_total["bit_exact"],
        "region_bytes": fleet["region_bytes"], "fleet_seconds": fleet["seconds"],
    }


def _device_fleet(args, model, train, test, scheme) -> dict:
    from host_tools.fleet import FleetSettings, run_fleet
    from host_tools.protocol.device import emulated_firmware

    elf = emulated_firmware(args.board, args.model, args.plan, quiet=True)
    with tempfile.TemporaryDirectory(prefix="mcutrain-bench-fleet-") as folder:
        settings = FleetSettings(args.devices, args.rounds, args.local_epochs, None, args.seed, "fedavg", args.model,
                                 args.plan, args.board, elf, None, Path(folder), None, True)
        return run_fleet(settings, model, train, test, scheme)


def _golden_fleet(args, model, train, test, scheme) -> dict:
    from host_tools.fleet_golden import simulate_fleet

    started = time.monotonic()
    fleet = simulate_fleet(model, train, test, args.devices, args.rounds, args.local_epochs, None, args.seed, "fedavg",
                           scheme)
    return {**fleet, "seconds": round(time.monotonic() - started, 1)}


def _device_central(args, model, samples, test, plan, passes: int, say) -> dict:
    from host_tools.device_training import run_on_emulator

    run = run_on_emulator(args.board, model, samples, test, plan, passes, args.seed, True, say)
    return {"accuracy": run.after.accuracy, "bit_exact": run.bit_exact}


def _golden_central(args, model, samples, test, plan, passes: int, say) -> dict:
    from host_tools.commands.train import sample_order
    from host_tools.device_training import simulate_golden_run
    from quantize.fleet_average import fleet_region

    region = fleet_region(model.tflite, model.name, model.plan)
    order = sample_order(len(samples), passes, args.seed, True)
    run = simulate_golden_run(model.tflite, plan, region.layout, region.size, samples.x, samples.y, order, args.seed,
                              test.x, test.y)
    return {"accuracy": run["accuracy"]}
