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
"""

from __future__ import annotations

import tempfile
from pathlib import Path


def fleet_figures(args, say) -> dict:
    from host_tools.commands.train import run_plan, sample_order
    from host_tools.device_training import fp32_baseline, run_on_emulator
    from host_tools.fleet import FleetSettings, run_fleet
    from host_tools.fleet_partition import parse_partition
    from host_tools.protocol.device import emulated_firmware, host_model
    from host_tools.protocol.workload import Samples, load_samples

    model = host_model(args.model, args.plan)
    data = "mnist5k"
    train = load_samples(model, data, "train", args.limit * args.devices)
    test = load_samples(model, data, "test", args.test_limit)
    passes = args.rounds * args.local_epochs
    elf = emulated_firmware(args.board, args.model, args.plan, quiet=True)
    with tempfile.TemporaryDirectory(prefix="mcutrain-bench-fleet-") as folder:
        settings = FleetSettings(args.devices, args.rounds, args.local_epochs, None, args.seed, "fedavg", args.model,
                                 args.plan, args.board, elf, None, Path(folder), None, True)
        say(f"fleet: {args.devices} devices, {args.rounds} rounds, {train.description} partitioned {args.partition}")
        fleet = run_fleet(settings, model, train, test, parse_partition(args.partition))
    # As many steps as a fleet device's (its samples x passes, the devices' mean), drawn from all
    # the samples: every sample once per pass, the last pass cut short.
    steps = passes * round(len(train) / args.devices)
    drawn = sample_order(len(train), -(-steps // len(train)), args.seed, True)[:steps]
    same_steps = Samples(train.x[drawn], train.y[drawn], train.class_names,
                         f"{steps} draws from {train.description}")
    say(f"central: one device, {steps} steps (a fleet device's) over the same {len(train)} samples")
    central = run_on_emulator(args.board, model, same_steps, test, run_plan(model.training_plan, None, None, steps),
                              1, args.seed, True, say)
    say(f"central_total: one device, {passes} passes over the same {len(train)} samples")
    plan = run_plan(model.training_plan, None, None, len(train) * passes)
    central_total = run_on_emulator(args.board, model, train, test, plan, passes, args.seed, True, say)
    say("fp32: TensorFlow fine-tuning of the same parameters")
    fp32 = fp32_baseline(model.name, data, plan, passes, len(train), args.test_limit)
    last = fleet["rounds"][-1]["global_accuracy"]
    return {
        "board": args.board, "model": model.name, "plan": model.training_plan.name, "data": data,
        "devices": args.devices, "rounds": args.rounds, "local_epochs": args.local_epochs,
        "partition": args.partition, "samples_per_device": fleet["samples_per_device"],
        "test_samples": len(test), "seed": args.seed,
        "fleet_accuracy_per_round": [r["global_accuracy"] for r in fleet["rounds"]],
        "fleet_accuracy": last, "central_steps": steps, "central_accuracy": central.after.accuracy,
        "central_total_steps": central_total.steps, "central_total_accuracy": central_total.after.accuracy,
        "fp32_accuracy": fp32,
        "fleet_minus_central_points": round(100 * (last - central.after.accuracy), 2),
        "fleet_minus_central_total_points": round(100 * (last - central_total.after.accuracy), 2),
        "central_bit_exact_with_golden": central.bit_exact and central_total.bit_exact,
        "region_bytes": fleet["region_bytes"], "fleet_seconds": fleet["seconds"],
    }
