"""`mcutrain info`: what the device reports about itself (firmware, board, model, memory, counters)."""

from __future__ import annotations

import json

from host_tools.protocol.device import add_device_arguments, open_device


def register(subparsers) -> None:
    parser = subparsers.add_parser("info", help="show the device's firmware, board, model, memory and counters")
    add_device_arguments(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    with open_device(args, quiet=args.json) as device:
        info = device.info()
    if args.json:
        print(json.dumps(info.to_dict(), indent=2))
        return 0
    model = (f"{info.model_name} (hash 0x{info.model_hash:08x}), input {info.input_bytes} B, "
             f"{info.output_bytes} classes, {info.trainable_bytes} B trainable"
             if info.has_model else f"none ({info.model_reason})")
    rows = [
        ("firmware", f"{info.firmware}, protocol {info.protocol_version}, max payload {info.max_payload} B"),
        ("board", f"{info.board} ({info.cpu}, {info.clock_hz} Hz, counter {info.counter_hz} Hz)"),
        ("model", model),
        ("ram", f"budget {info.ram_budget} B, static {info.static_ram} B, arena {info.arena_bytes} B, "
                f"stack {info.stack_high_water}/{info.stack} B used"),
        ("training", f"{info.samples_trained} samples, peak SRAM of last step {info.peak_sram_last_step} B, "
                     f"lr {info.learning_rate:g}, gradient filter {'on' if info.gradient_filter else 'off'}, "
                     f"seed {info.seed}"),
        ("link", f"{info.frames_ok} frames ok, {info.frames_bad} errors"),
    ]
    for key, value in rows:
        print(f"{key:<9} {value}")
    return 0
