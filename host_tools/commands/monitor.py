"""`mcutrain monitor`: the device's live counters (STATS), one line per interval, until Ctrl-C."""

from __future__ import annotations

import json
import time

from host_tools.protocol.device import add_device_arguments, open_device

DEFAULT_INTERVAL_S = 1.0


def register(subparsers) -> None:
    parser = subparsers.add_parser("monitor", help="print the device's live counters until Ctrl-C")
    add_device_arguments(parser)
    parser.add_argument("--interval", type=float, default=DEFAULT_INTERVAL_S,
                        help=f"seconds between readings (default {DEFAULT_INTERVAL_S:g})")
    parser.add_argument("--count", type=int, default=0, help="stop after N readings (default: until Ctrl-C)")
    parser.set_defaults(func=run)


def format_line(stats) -> str:
    loss = "-" if stats.running_loss is None else f"{stats.running_loss:.4f}"
    acc = "-" if stats.running_accuracy is None else f"{stats.running_accuracy:.4f}"
    errors = ", ".join(f"{name} {count}" for name, count in stats.errors.items() if count) or "none"
    return (f"trained {stats.samples_trained} loss {loss} acc {acc} | inferred {stats.samples_inferred} | "
            f"frames {stats.frames_ok} retries {stats.retries_answered} | errors: {errors}")


def run(args) -> int:
    readings = 0
    with open_device(args, quiet=args.json) as device:
        try:
            while args.count <= 0 or readings < args.count:
                if readings:
                    time.sleep(args.interval)
                stats = device.stats()
                readings += 1
                if args.json:
                    print(json.dumps({"time": time.time(), **stats.to_dict()}), flush=True)
                else:
                    print(f"{time.strftime('%H:%M:%S')} {format_line(stats)}", flush=True)
        except KeyboardInterrupt:
            pass
    return 0
