"""`mcutrain bench ...`: benchmarks that print figures (JSON with --json), never pass or fail.

bench forward  per-layer MACs, QEMU instruction counts and arena use of one forward pass
               (host_tools/bench_forward.py).
bench link     frames and payload bytes per second of the serial link, and the share of a
               training step's wall time the host and the link take (host_tools/protocol/bench_link.py).
Each benchmark is one sub-subcommand registered here.
"""

from __future__ import annotations

import json

from host_tools.targets import EMULATED


def register(subparsers) -> None:
    parser = subparsers.add_parser("bench", help="benchmarks on the emulated device (deterministic instruction counts)")
    benches = parser.add_subparsers(dest="bench", required=True, metavar="BENCHMARK")

    forward = benches.add_parser("forward", help="instructions, MACs and arena of one forward pass, per layer")
    forward.add_argument("--board", choices=EMULATED, default="qemu-m7")
    forward.add_argument("--model", default="ref", help="a reference model name (ref, mbv2-w0.35-128) or an int8 .tflite")
    forward.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    forward.set_defaults(func=run_forward)

    from host_tools.protocol.device import add_device_arguments

    train = benches.add_parser("train", help="instructions, MACs and peak SRAM of one training step, per layer")
    train.add_argument("--board", choices=EMULATED, default="qemu-m7")
    train.add_argument("--model", default="ref", help="a reference model name (ref, mbv2-w0.35-128) or an int8 .tflite")
    train.add_argument("--plan", help="the training plan: a JSON file or the name of one of the model's plans "
                                      "(default: the classifier head)")
    train.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    train.set_defaults(func=run_train)

    link = benches.add_parser("link", help="frames/s, payload bytes/s and host overhead of the serial link")
    add_device_arguments(link)
    link.set_defaults(func=run_link)


def run_forward(args) -> int:
    from host_tools.bench_forward import bench_forward
    from host_tools.model_source import resolve_model

    source = resolve_model(args.model)
    figures = bench_forward(args.board, source.tflite, source.name)
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"{figures['model']} on {figures['board']} ({figures['clock']})")
    print(f"{'#':>3} {'op':<18} {'MACs':>11} {'instructions':>13} {'instr/MAC':>9} {'arena B':>8}")
    for layer in figures["layers"]:
        per_mac = "" if layer["instr_per_mac"] is None else f"{layer['instr_per_mac']:.3f}"
        print(f"{layer['index']:>3} {layer['op']:<18} {layer['macs']:>11} {layer['instructions']:>13} "
              f"{per_mac:>9} {layer['arena_bytes']:>8}")
    total, conv = figures["total"], figures["conv_and_depthwise"]
    print(f"total: {total['macs']} MACs, {total['instructions']} instructions, {total['instr_per_mac']} instr/MAC, "
          f"peak arena {total['peak_arena_bytes']} B")
    print(f"conv + depthwise: {conv['instr_per_mac']} instr/MAC")
    return 0


def run_train(args) -> int:
    from host_tools.bench_train import bench_train
    from host_tools.protocol.device import host_model

    figures = bench_train(args.board, host_model(args.model, args.plan))
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"{figures['model']} with plan {figures['plan']} on {figures['board']} ({figures['clock']})")
    print(f"{'op':>3} {'kind':<16} {'what':<14} {'MACs':>10} {'instructions':>13}")
    for layer in figures["layers"]:
        what = ("W" if layer["weights"] else "") + ("b" if layer["bias"] else "") + (
            f" {layer['channels']}ch" if layer["channels"] else "") + (" +err" if layer["input_error"] else "")
        print(f"{layer['op']:>3} {layer['kind']:<16} {what:<14} {layer['macs']:>10} {layer['instructions']:>13}")
    for key in ("instructions_per_step", "forward_instructions", "backward_instructions", "update_instructions",
                "peak_sram_bytes", "predicted_peak_sram_bytes", "ram_budget_bytes", "trainable_bytes",
                "full_update_peak_sram_bytes"):
        print(f"{key:<28} {figures[key]}")
    return 0


def run_link(args) -> int:
    from host_tools.protocol.bench_link import bench_link
    from host_tools.protocol.device import host_model, open_device
    from host_tools.protocol.workload import load_samples

    model = host_model(args.model, args.plan)
    samples = load_samples(model, "fashion-mnist", "test", 10) if model.name == "ref" else None
    with open_device(args, quiet=args.json) as device:
        figures = bench_link(device, *((samples.x, samples.y) if samples else (None, None)))
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    for key, value in figures.items():
        print(f"{key:<24} {value}")
    return 0
