"""`mcutrain fleet --devices N --rounds R --model M --plan P --data D --partition iid|dirichlet:ALPHA|by-class
[--board B | --ports URL,URL,...] [--local-epochs E] [--limit N] [--json]`: federated fine-tuning of a
fleet of devices with Flower (host_tools/fleet.py)."""

from __future__ import annotations

import json
from pathlib import Path

from host_tools.commands.arguments import positive_int
from host_tools.errors import McutrainError
from host_tools.model_source import MODEL_HELP
from host_tools.targets import EMULATED

DEFAULT_OUT = Path("fleet")


def register(subparsers) -> None:
    from host_tools.fleet_partition import SCHEMES

    parser = subparsers.add_parser("fleet", help="fine-tune a fleet of devices together (federated, with Flower)")
    parser.add_argument("--devices", type=positive_int, default=2, help="devices (default 2; with --ports: their count)")
    parser.add_argument("--rounds", type=positive_int, default=3, help="federated rounds (default 3)")
    parser.add_argument("--model", default="ref", help=f"{MODEL_HELP} (default ref)")
    parser.add_argument("--plan", help="the training plan (a JSON file or the name of one of the model's plans); "
                                       "default the classifier head")
    parser.add_argument("--data", default="mnist5k", help="dataset (default mnist5k): its train split is partitioned "
                                                          "across the devices, its test split measures the global model")
    parser.add_argument("--partition", default="iid", help=f"{SCHEMES} (default iid), seeded with --seed")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--board", choices=EMULATED, help="start one emulator of this board per device (default qemu-m7)")
    where.add_argument("--ports", help="comma-separated serial ports or URLs of running devices, one per device")
    parser.add_argument("--local-epochs", type=positive_int, default=1, help="passes over its shard per round (default 1)")
    parser.add_argument("--limit", type=positive_int, help="train samples per device, drawn stratified (default: the "
                                                           "whole train split shared out)")
    parser.add_argument("--test-limit", type=positive_int, default=200,
                        help="test samples the global model is measured on each round (default 200)")
    parser.add_argument("--lr", type=float, help="learning rate on the devices (default: the plan's); the plan's schedule (cosine) runs over "
                             "each device's steps in all rounds")
    parser.add_argument("--strategy", choices=("fedavg", "fedadam"), default="fedavg",
                        help="Flower's server strategy (default fedavg)")
    parser.add_argument("--seed", type=int, default=1, help="partition, shuffle and rounding seed (default 1)")
    parser.add_argument("--drop", metavar="DEVICE@ROUND",
                        help="fault injection: kill device DEVICE's emulator halfway through its training in round ROUND "
                             "(the round goes on without it; it rejoins in the next)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"folder for the checkpoints of every round, fleet.csv, fleet.png, fleet.json "
                             f"(default {DEFAULT_OUT})")
    parser.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def _drop(text: str | None, devices: int, rounds: int) -> tuple[int, int] | None:
    if text is None:
        return None
    device, _, round_ = text.partition("@")
    if not (device.isdigit() and round_.isdigit() and int(device) < devices and 1 <= int(round_) <= rounds):
        raise McutrainError(f"--drop {text}: expected DEVICE@ROUND with DEVICE in 0..{devices - 1} and ROUND in "
                            f"1..{rounds}")
    return int(device), int(round_)


def run(args) -> int:
    from host_tools.fleet import FleetSettings, run_fleet
    from host_tools.fleet_partition import parse_partition
    from host_tools.protocol.device import emulated_firmware, host_model, status
    from host_tools.protocol.workload import load_samples

    ports = [p.strip() for p in args.ports.split(",") if p.strip()] if args.ports else None
    devices = len(ports) if ports else args.devices
    scheme = parse_partition(args.partition)
    drop = _drop(args.drop, devices, args.rounds)
    if drop and ports:
        raise McutrainError("--drop kills an emulator: it takes --board, not --ports")
    model = host_model(args.model, args.plan)
    train = load_samples(model, args.data, "train", args.limit * devices if args.limit else None)
    test = load_samples(model, args.data, "test", args.test_limit)
    if ports:
        _check_ports(ports, model)
        board, elf = None, None
    else:
        board = args.board or "qemu-m7"
        elf = emulated_firmware(board, args.model, args.plan, quiet=args.json)
    if args.lr is not None and not 0 < args.lr <= 1:
        raise McutrainError(f"--lr {args.lr}: expected a learning rate in (0, 1]")
    settings = FleetSettings(devices, args.rounds, args.local_epochs, args.lr, args.seed, args.strategy, args.model,
                             args.plan, board, elf, ports, args.out, drop, args.no_progress or args.json)
    if not args.json:
        status(f"fleet: {devices} devices ({board or 'ports'}), {args.rounds} rounds of {args.strategy}, "
               f"{train.description} partitioned {args.partition}, global model measured on {test.description}")
    report = run_fleet(settings, model, train, test, scheme)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    for r in report["rounds"]:
        local = ", ".join(f"{d['device']}: {d['local_accuracy']:.3f}" for d in r["devices"])
        dropped = f"; dropped: {', '.join(map(str, r['dropped']))}" if r["dropped"] else ""
        print(f"round {r['round']}: global accuracy {r['global_accuracy']:.4f}; local ({local}){dropped}; "
              f"{r['seconds']:.1f} s")
    print(f"{report['region_bytes']} bytes of trainable parameters each way per device and round; checkpoints, "
          f"fleet.csv and fleet.png in {report['out']}")
    return 0


def _check_ports(ports: list[str], model) -> None:
    """Every device runs the host's model (its hash), before round 1."""
    from host_tools.commands.infer import check_device_model
    from host_tools.protocol.session import Session

    for device, port in enumerate(ports):
        with Session.open(port) as session:
            try:
                check_device_model(session.info(), model)
            except McutrainError as err:
                raise McutrainError(f"device {device} ({port}): {err}") from None
