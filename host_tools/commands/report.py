"""`mcutrain report ...`: reports on a model compiled with a training plan.

report cost    what one training step costs, per layer and in total: MACs forward and backward,
               bytes read from flash and from SRAM and written to SRAM, every tensor the forward
               pass keeps for the backward pass with its lifetime and bytes x lifetime, and the
               step's energy on the real board behind --board (quantize/planning/traffic.py,
               quantize/planning/energy.py); what sparse update and gradient filtering saved.

The instructions are measured on the board's emulator by default (host_tools/bench_train.py: the
forward pass, the loss and each backward step); the forward pass is split over its ops by the
cost model's per-op prediction, scaled to the measured total. --predicted takes every count from
the cost model (quantize/planning/cost.py) instead, without an emulator.
"""

from __future__ import annotations

import json
from collections import defaultdict

from host_tools.errors import McutrainError
from host_tools.model_source import MODEL_HELP

DEFAULT_BOARD = "qemu-m7"


def register(subparsers) -> None:
    parser = subparsers.add_parser("report", help="reports on a model compiled with a training plan")
    reports = parser.add_subparsers(dest="report", required=True, metavar="REPORT")
    cost = reports.add_parser("cost", help="MACs, memory traffic, kept tensors and energy of one training step, "
                                           "per layer; what the plan saved",
                              description=__doc__.split("\n\n", 1)[1].split("\n\n")[0])
    cost.add_argument("--model", required=True, help=MODEL_HELP)
    cost.add_argument("--plan", required=True, help="the training plan: a JSON file or the name of one of the "
                                                    "model's plans")
    cost.add_argument("--board", default=DEFAULT_BOARD,
                      help=f"the target whose real board is priced (default {DEFAULT_BOARD}: the STM32F746)")
    cost.add_argument("--predicted", action="store_true",
                      help="the cost model's instructions instead of the emulator's (no emulator)")
    cost.add_argument("--json", action="store_true", help="print the report as one JSON object")
    cost.set_defaults(func=run_cost)


def run_cost(args) -> int:
    from host_tools.protocol.device import host_model

    _check_board(args.board, args.predicted)
    report = cost_report(args.board, host_model(args.model, args.plan), measured=not args.predicted)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_cost(report)
    return 0


def _check_board(board: str, predicted: bool) -> None:
    from host_tools.targets import get_target
    from quantize.planning.energy import board_power

    target = get_target(board)
    board_power(board)  # a board without energy figures (native) fails here, naming those with
    if not predicted and not target.emulated:
        raise McutrainError(f"--board {board}: no emulator to measure on; use --predicted, or --board qemu-m7 "
                            f"(the same Cortex-M7, priced as the STM32F746)")


def print_cost(report: dict) -> None:
    print(f"{report['model']} with plan {report['plan']} on {report['board']} "
          f"({report['energy']['real_board']}): one training step")
    print(f"instructions: {report['instructions_from']}")
    print(f"{'op':>3} {'kind':<17} {'fwd MACs':>10} {'bwd MACs':>9} {'flash rd B':>10} {'SRAM rd B':>10} "
          f"{'SRAM wr B':>10} {'kept B':>7} {'kept B*ops':>10} {'instructions':>12} {'uJ':>9}")
    for layer in report["layers"]:
        print(f"{layer['op']:>3} {layer['kind']:<17} {layer['forward_macs']:>10} {layer['backward_macs']:>9} "
              f"{layer['flash_read_bytes']:>10} {layer['sram_read_bytes']:>10} {layer['sram_write_bytes']:>10} "
              f"{layer['kept_bytes']:>7} {layer['kept_byte_ops']:>10} {layer['instructions']:>12} "
              f"{layer['energy_uj']:>9.1f}")
    rest = report["loss_and_overhead"]
    print(f"{'':>3} {'loss' if report['measured'] else 'loss, overhead':<17} {'':>10} {'':>9} {'':>10} {'':>10} {'':>10} {'':>7} {'':>10} "
          f"{rest['instructions']:>12} {rest['energy_uj']:>9.1f}")
    t = report["totals"]
    print(f"{'':>3} {'total':<17} {t['forward_macs']:>10} {t['backward_macs']:>9} {t['flash_read_bytes']:>10} "
          f"{t['sram_read_bytes']:>10} {t['sram_write_bytes']:>10} {t['kept_bytes']:>7} {t['kept_byte_ops']:>10} "
          f"{t['instructions']:>12} {report['energy']['total_uj']:>9.1f}")
    timeline = report["timeline"]
    loss, last = timeline["loss"], timeline["loss"] + timeline["backward_steps"]
    print(f"kept for the backward pass (timeline: forward ops 0..{timeline['forward_ops'] - 1}, the loss at {loss}, "
          f"backward steps {loss + 1}..{last}):")
    for kept in report["kept"]:
        print(f"  {kept['what']:<48} {kept['bytes']:>7} B  ops {kept['written']:>3}..{kept['last_read']:<3} "
              f"lifetime {kept['lifetime_ops']:>3}  {kept['bytes_x_lifetime']:>8} B*ops")
    e = report["energy"]
    print(f"energy: {e['total_uj']:.1f} uJ per step on the {e['real_board']} (core {e['core_uj']:.1f} uJ over "
          f"{e['seconds'] * 1e3:.1f} ms, memory {e['memory_uj']:.2f} uJ: flash {e['flash_read_uj']:.2f}, "
          f"SRAM read {e['sram_read_uj']:.2f}, SRAM write {e['sram_write_uj']:.2f})")
    print("figures used:")
    for source in e["sources"]:
        print(f"  - {source}")
    print("savings (the cost model's predictions, on both sides):")
    for line in report["savings_lines"]:
        print(f"  {line}")
    print("where it goes:")
    for line in report["explanation"]:
        print(f"  {line}")


# -- the figures ---------------------------------------------------------------------------------

def cost_report(board: str, model, measured: bool = True) -> dict:
    """The cost report of one training step of `model` (a HostModel with its plan) on `board`."""
    from quantize.planning.cost import predicted_step_cost
    from quantize.planning.energy import energy_of
    from quantize.planning.traffic import Traffic, compile_step

    plan = model.training_plan
    compiled = compile_step(model.tflite, model.name, plan)
    program, traffic = compiled.program, compiled.traffic
    if not program.steps:
        raise McutrainError(f"plan {_plan_name(plan)}: trains nothing in {model.name}, so a step has no cost to report")
    predicted = predicted_step_cost(compiled.lowered, compiled.graph, program)
    measured_peak = None
    forward = {layer.op: layer.predicted_forward_instructions for layer in traffic.layers}
    backward = {layer.op: layer.predicted_backward_instructions for layer in traffic.layers}
    if measured:
        from host_tools.bench_train import bench_train

        bench = bench_train(board, model)
        measured_peak = bench["peak_sram_bytes"]
        scale = bench["forward_instructions"] / max(sum(forward.values()), 1.0)
        forward = {op: value * scale for op, value in forward.items()}
        backward = defaultdict(float)
        for step, figures in zip(program.steps, bench["layers"]):
            backward[step.op] += figures["instructions"]
        # Every part from the runner's one timed run: the forward pass, the loss, each backward step.
        # The product firmware's TRAIN, a second build and run, also receives the sample and replies.
        rest = bench["loss_instructions"]
        source = (f"measured on {board} (QEMU -icount, bench train's runner, one run): the forward pass "
                  f"{bench['forward_instructions']:,}, split over its ops by the cost model; the loss; each backward "
                  f"step. The product firmware's TRAIN, with the sample's transfer and the reply: "
                  f"{bench['instructions_per_step']:,}")
    else:
        source = ("predicted by the cost model (quantize/planning/cost.py, fitted on qemu-m7), not measured: "
                  "no emulator ran")
    layers = []
    for layer in traffic.layers:
        instructions = round(forward[layer.op] + backward[layer.op])
        layers.append(_layer_json(layer, instructions, energy_of(board, instructions, layer.traffic).total_uj))
    if not measured:
        rest = predicted.total - sum(layer["instructions"] for layer in layers)
    step_instructions = sum(layer["instructions"] for layer in layers) + rest
    split = {"forward": round(sum(forward.values())), "backward": round(sum(backward.values())),
             "loss_and_overhead": rest}
    energy = energy_of(board, step_instructions, traffic.traffic)
    report = {
        "model": model.name, "plan": _plan_name(plan), "board": board,
        "instructions_from": source, "measured": measured, "measured_peak_sram_bytes": measured_peak,
        "product_train_instructions": bench["instructions_per_step"] if measured else None,
        "timeline": {"forward_ops": traffic.forward_ops, "loss": traffic.forward_ops,
                     "backward_steps": len(program.steps)},
        "layers": layers,
        "loss_and_overhead": {"instructions": rest, "energy_uj": round(energy_of(board, rest, Traffic()).total_uj, 3)},
        "kept": [_kept_json(compiled.graph, kept) for kept in traffic.kept],
        "totals": {**_counts_json(traffic.traffic), "forward_macs": traffic.total("forward_macs"),
                   "backward_macs": traffic.total("backward_macs"), "error_macs": traffic.total("error_macs"),
                   "update_macs": traffic.total("update_macs"), "kept_bytes": traffic.total("kept_bytes"),
                   "kept_byte_ops": traffic.total("kept_byte_ops"), "instructions": step_instructions,
                   "instructions_split": split},
        "energy": energy.to_json(),
    }
    this = _predicted_figures(board, compiled, "this plan")
    report["savings"] = _savings(board, model, compiled, this)
    report["savings_lines"] = _savings_lines(report["savings"], this)
    report["explanation"] = _explanation(report)
    return report


def _plan_name(plan) -> str:
    return plan.name or plan.source


def _counts_json(traffic) -> dict:
    return {"flash_read_bytes": traffic.flash_read, "sram_read_bytes": traffic.sram_read,
            "sram_write_bytes": traffic.sram_write}


def _layer_json(layer, instructions: int, energy_uj: float) -> dict:
    return {"op": layer.op, "kind": layer.kind, "forward_macs": layer.forward_macs,
            "backward_macs": layer.backward_macs, "error_macs": layer.error_macs, "update_macs": layer.update_macs,
            **_counts_json(layer.traffic), "kept_bytes": layer.kept_bytes, "kept_byte_ops": layer.kept_byte_ops,
            "instructions": instructions, "energy_uj": round(energy_uj, 3)}


def _kept_json(graph, kept) -> dict:
    kind = graph.operators[kept.op].op
    return {"what": f"{kept.kind} of op {kept.op} ({kind}), tensor {kept.tensor}", "kind": kept.kind, "op": kept.op,
            "tensor": kept.tensor, "bytes": kept.bytes, "written": kept.written, "last_read": kept.last_read,
            "lifetime_ops": kept.lifetime, "bytes_x_lifetime": kept.byte_ops}


def _predicted_figures(board: str, compiled, what: str) -> dict:
    """A compiled plan's step as the models predict it: peak SRAM, kept bytes, MACs, instructions, energy."""
    from host_tools.targets import get_target
    from quantize.blob import read_header
    from quantize.memory_model import arena_peak_place, predicted_peak_sram
    from quantize.planning.cost import predicted_step_cost
    from quantize.planning.energy import energy_of

    header = read_header(compiled.lowered.blob)
    peak = predicted_peak_sram(board, header["arena_size"], header["trainable_size"])
    budget = get_target(board).ram_budget_bytes
    instructions = predicted_step_cost(compiled.lowered, compiled.graph, compiled.program).total
    t = compiled.traffic
    return {"what": what, "trained_layers": sum(1 for s in compiled.program.steps if s.weights or s.bias),
            "peak_sram_bytes": peak, "ram_budget_bytes": budget, "fits": peak <= budget,
            "over_budget_bytes": max(peak - budget, 0), "arena_peak": arena_peak_place(compiled.lowered),
            "trainable_bytes": header["trainable_size"], "kept_bytes": t.total("kept_bytes"),
            "kept_byte_ops": t.total("kept_byte_ops"), "backward_macs": t.total("backward_macs"),
            "instructions": instructions,
            "energy_uj": round(energy_of(board, instructions, t.traffic).total_uj, 3)}


def _savings(board: str, model, compiled, this: dict) -> dict:
    """The plan against the full update and, when it filters gradients, against itself unfiltered."""
    from quantize.errors import PlanError
    from quantize.planning.traffic import compile_step, full_update_plan, unfiltered_plan

    plan = model.training_plan
    try:
        full = _predicted_figures(board, compile_step(model.tflite, model.name, full_update_plan(compiled.graph)),
                                  "the full update (every weight and bias)")
    except PlanError as err:
        full = {"what": "the full update (every weight and bias)", "not_computed": str(err)}
    unfiltered = None
    if any(layer.gradient_filter > 1 for layer in plan.layers):
        unfiltered = _predicted_figures(board, compile_step(model.tflite, model.name, unfiltered_plan(plan)),
                                        "the same plan without gradient filtering")
    return {"this_plan": this, "full_update": full, "without_gradient_filter": unfiltered}


def _ratio(other: float, this: float) -> str:
    return f"{other / this:.1f}x" if this else "n/a"


def _savings_lines(savings: dict, this: dict) -> list[str]:
    lines = [_figures_line(this)]
    full = savings["full_update"]
    if "not_computed" in full:
        lines.append(f"{full['what']}: not computed: {full['not_computed']}")
    else:
        lines.append(_figures_line(full))
        lines.append(f"  sparse update saves: peak SRAM {full['peak_sram_bytes'] - this['peak_sram_bytes']:,} B, kept "
                     f"bytes {_ratio(full['kept_bytes'], this['kept_bytes'])}, bytes x lifetime "
                     f"{_ratio(full['kept_byte_ops'], this['kept_byte_ops'])}, backward MACs "
                     f"{_ratio(full['backward_macs'], this['backward_macs'])}, energy "
                     f"{_ratio(full['energy_uj'], this['energy_uj'])}")
    unfiltered = savings["without_gradient_filter"]
    if unfiltered is None:
        lines.append("the plan filters no gradients (gradient_filter 1 on every layer)")
    else:
        lines.append(_figures_line(unfiltered))
        lines.append(f"  gradient filtering saves: kept bytes {unfiltered['kept_bytes'] - this['kept_bytes']:,} "
                     f"({_ratio(unfiltered['kept_bytes'], this['kept_bytes'])}), bytes x lifetime "
                     f"{_ratio(unfiltered['kept_byte_ops'], this['kept_byte_ops'])}, backward MACs "
                     f"{_ratio(unfiltered['backward_macs'], this['backward_macs'])}, energy "
                     f"{unfiltered['energy_uj'] - this['energy_uj']:,.1f} uJ")
    return lines


def _figures_line(figures: dict) -> str:
    fit = ("fits" if figures["fits"] else f"over by {figures['over_budget_bytes']:,} B")
    return (f"{figures['what']} ({figures['trained_layers']} layers trained): peak SRAM {figures['peak_sram_bytes']:,} "
            f"B of {figures['ram_budget_bytes']:,} ({fit}), kept {figures['kept_bytes']:,} B, "
            f"{figures['kept_byte_ops']:,} B*ops, backward MACs {figures['backward_macs']:,}, "
            f"{figures['instructions']:,} instructions, {figures['energy_uj']:,.1f} uJ")


def _explanation(report: dict) -> list[str]:
    """Where the step spends memory and energy, in a few lines."""
    this, energy = report["savings"]["this_plan"], report["energy"]
    device = report["measured_peak_sram_bytes"]
    measured = f", {device:,} B measured on the device" if device else ""
    memory = (f"memory: peak SRAM {this['peak_sram_bytes']:,} B predicted{measured} (the arena peaks at "
              f"{this['arena_peak']}; trainable copy {this['trainable_bytes']:,} B); the forward pass keeps "
              f"{report['totals']['kept_bytes']:,} B for the backward pass")
    lines = [memory]
    if report["kept"]:
        largest = max(report["kept"], key=lambda k: (k["bytes"], k["bytes_x_lifetime"]))
        longest = max(report["kept"], key=lambda k: k["bytes_x_lifetime"])
        lines[0] += f"; the largest is the {largest['what']}: {largest['bytes']:,} B for {largest['lifetime_ops']} ops"
        if longest is not largest:
            lines.append(f"the most bytes x lifetime: the {longest['what']}, {longest['bytes_x_lifetime']:,} B*ops")
    costly = max(report["layers"], key=lambda layer: layer["energy_uj"])
    split, total = report["totals"]["instructions_split"], report["totals"]["instructions"]
    lines.append(f"energy: {energy['total_uj']:,.1f} uJ, {energy['core_uj'] / energy['total_uj']:.2%} of it the "
                 f"core's (instructions x the datasheet current); the forward pass takes "
                 f"{split['forward'] / total:.0%} of the instructions, the backward steps "
                 f"{split['backward'] / total:.0%}; the layer with the most energy is op {costly['op']} "
                 f"({costly['kind']}): {costly['energy_uj']:,.1f} uJ ({costly['energy_uj'] / energy['total_uj']:.0%}), "
                 f"{costly['forward_macs']:,} forward and {costly['backward_macs']:,} backward MACs")
    return lines
