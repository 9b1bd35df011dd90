"""`mcutrain bench ...`: benchmarks that print figures (JSON with --json), never pass or fail.

bench forward  per-layer MACs, QEMU instruction counts and arena use of one forward pass
               (host_tools/bench_forward.py).
bench train    instructions, MACs and peak SRAM of one training step, per layer
               (host_tools/bench_train.py).
bench accuracy accuracy after training on the device, beside the golden reference, the fp32
               yardstick and the same run without QAS (host_tools/device_training.py).
bench fleet    a fleet's global accuracy after its rounds against one device trained on all the
               same samples for a fleet device's steps, and for as many passes as the fleet made,
               and the fp32 yardstick (host_tools/bench_fleet.py).
bench link     frames and payload bytes per second of the serial link, and the share of a
               training step's wall time the host and the link take (host_tools/protocol/bench_link.py).
bench plan     what `mcutrain plan` costs (analysis and search seconds) and what its plans give
               per SRAM budget: predicted against measured peak SRAM and instructions per step,
               and for ref the device accuracy beside two simple plans (host_tools/bench_plan.py).
bench all      all of the above for ref and mbv2-w0.35-128, and the memory comparison of full,
               bias-only and sparse updates, in one report (host_tools/bench_all.py).
bench readme   rewrites README.md's generated results from a bench all results file
               (host_tools/readme_results.py); --check only compares.
Each benchmark is one sub-subcommand registered here.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from host_tools.commands.arguments import positive_int
from host_tools.model_source import MODEL_HELP
from host_tools.targets import EMULATED


def register(subparsers) -> None:
    parser = subparsers.add_parser("bench", help="benchmarks on the emulated device (deterministic instruction counts)")
    benches = parser.add_subparsers(dest="bench", required=True, metavar="BENCHMARK")

    forward = _model_bench(benches, "forward", "instructions, MACs and arena of one forward pass, per layer", run_forward)

    from host_tools.protocol.device import add_device_arguments

    train = _model_bench(benches, "train", "instructions, MACs and peak SRAM of one training step, per layer",
                         run_train)
    train.add_argument("--plan", help="the training plan: a JSON file or the name of one of the model's plans "
                                      "(default: the classifier head)")

    accuracy = benches.add_parser("accuracy", help="accuracy after training on the device, beside the golden "
                                                   "reference, the fp32 yardstick and the same run without QAS")
    accuracy.add_argument("--board", choices=EMULATED, default="qemu-m7")
    accuracy.add_argument("--model", default="ref", choices=("ref",), help="the model (ref: Fashion-MNIST -> mnist5k)")
    accuracy.add_argument("--plan", default="demo", help="the training plan, a file or a name (default demo)")
    accuracy.add_argument("--epochs", type=positive_int, help="default: the plan's epochs hint, else 1")
    accuracy.add_argument("--limit", type=positive_int,
                          help="train on N training samples, drawn stratified by class (seed 0)")
    accuracy.add_argument("--test-limit", type=positive_int,
                          help="evaluate on N test samples, drawn stratified by class (seed 0)")
    accuracy.add_argument("--seed", type=int, default=1, help="device seed and shuffle seed (default 1)")
    accuracy.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    accuracy.set_defaults(func=run_accuracy)

    _register_plan(benches)

    conformance = benches.add_parser("conformance", help="random Keras CNNs as users convert them: compiled and "
                                                         "bit-exact with TFLite Micro on the device, or refused")
    conformance.add_argument("--models", type=positive_int, default=100, help="models generated (default 100)")
    conformance.add_argument("--seed", type=int, default=0, help="the architectures' seed (default 0)")
    conformance.add_argument("--board", choices=EMULATED, default="qemu-m7")
    conformance.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    conformance.add_argument("--no-progress", action="store_true", help="no progress bar")
    conformance.set_defaults(func=run_conformance)

    fleet = benches.add_parser("fleet", help="a fleet's global accuracy against one device trained on all the same "
                                             "samples (a fleet device's steps; as many passes), and the fp32 yardstick")
    fleet.add_argument("--board", choices=EMULATED, default="qemu-m7")
    fleet.add_argument("--model", default="ref", choices=("ref",), help="the model (ref: Fashion-MNIST -> mnist5k)")
    fleet.add_argument("--plan", default="demo", help="the training plan, a file or a name (default demo)")
    fleet.add_argument("--devices", type=positive_int, default=4, help="emulated devices (default 4)")
    fleet.add_argument("--rounds", type=positive_int, default=5, help="rounds (default 5)")
    fleet.add_argument("--local-epochs", type=positive_int, default=1, help="passes over its shard per round (default 1)")
    fleet.add_argument("--partition", default="dirichlet:0.5", help="iid|dirichlet:ALPHA|by-class (default dirichlet:0.5)")
    fleet.add_argument("--limit", type=positive_int, default=250, help="train samples per device (default 250)")
    fleet.add_argument("--test-limit", type=positive_int, default=500, help="test samples (default 500)")
    fleet.add_argument("--seed", type=int, default=1, help="partition, shuffle and rounding seed (default 1)")
    fleet.add_argument("--golden", action="store_true",
                       help="simulate the fleet and the central runs with the golden reference on the host (bit-exact "
                            "with the devices, no emulator)")
    fleet.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    fleet.set_defaults(func=run_fleet_bench)

    link = benches.add_parser("link", help="frames/s, payload bytes/s and host overhead of the serial link")
    add_device_arguments(link)
    link.set_defaults(func=run_link)

    _register_all(benches)


def _register_plan(benches) -> None:
    from host_tools import bench_plan
    from quantize.planning.contribution import AnalysisSettings

    defaults = AnalysisSettings()
    plan = benches.add_parser("plan", help="planning time, and each budget's plan: predicted vs measured peak SRAM "
                                           "and instructions, device accuracy (ref)",
                              description=bench_plan.__doc__.split("\n\n", 1)[1],
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    plan.add_argument("--board", choices=EMULATED, default="qemu-m7")
    plan.add_argument("--model", default="ref", choices=tuple(bench_plan.MEASURES))
    plan.add_argument("--budgets", default=bench_plan.DEFAULT_BUDGETS,
                      help=f"comma-separated SRAM budgets, bytes or sizes such as 96KB (default "
                           f"{bench_plan.DEFAULT_BUDGETS})")
    plan.add_argument("--data", help=f"the data to plan and train on (default: {bench_plan.REF_DATA} for ref, "
                                     f"Fashion-MNIST classes 0 and 1 written to an npz for mbv2-w0.35-128)")
    counts = (("--limit", bench_plan.DEFAULT_LIMIT, "training samples of each device run"),
              ("--test-limit", bench_plan.DEFAULT_TEST_LIMIT, "test samples the device accuracy is measured on"),
              ("--epochs", bench_plan.DEFAULT_EPOCHS, "epochs of each device run, the plan's lr cosine-decayed "
                                                      "over them"),
              ("--samples", defaults.train_samples, "the analysis's fine-tuning samples"),
              ("--layers", defaults.max_layers, "layers the analysis considers, from the head"))
    _add_counts(plan, counts)
    plan.add_argument("--seed", type=int, default=bench_plan.DEFAULT_SEED,
                      help=f"analysis, search, device and shuffle seed, non-zero (default {bench_plan.DEFAULT_SEED})")
    plan.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    plan.add_argument("-o", "--out", type=Path, metavar="DIR",
                      help=f"write {bench_plan.JSON_FILE}, {bench_plan.CSV_FILE} and {bench_plan.PLOT_FILE} "
                           "into DIR (all or nothing)")
    plan.add_argument("--no-progress", action="store_true", help="no progress bar")
    plan.set_defaults(func=run_plan)


def _add_counts(parser, counts) -> None:
    """A positive-integer option per (flag, default, what)."""
    for flag, default, what in counts:
        parser.add_argument(flag, type=positive_int, default=default, help=f"{what} (default {default})")


def _model_bench(benches, name: str, help_text: str, func):
    """A benchmark of one model on one emulated board (forward, train): --board, --model, --json."""
    parser = benches.add_parser(name, help=help_text)
    parser.add_argument("--board", choices=EMULATED, default="qemu-m7")
    parser.add_argument("--model", default="ref", help=MODEL_HELP)
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.set_defaults(func=func)
    return parser


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


def _figures(args, compute) -> dict:
    """compute(args, say) -> figures, progress to stderr under --json; prints them as JSON or a table."""
    figures = compute(args, (lambda text: print(text, file=sys.stderr)) if args.json else print)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        width = max(map(len, figures)) + 2
        for key, value in figures.items():
            print(f"{key:<{width}} {value}")
    return figures


def run_accuracy(args) -> int:
    figures = _figures(args, accuracy_figures)
    return 0 if figures["golden_bit_exact"] and figures["qas_off_golden_bit_exact"] else 1


def run_fleet_bench(args) -> int:
    from host_tools.bench_fleet import fleet_figures

    _figures(args, fleet_figures)
    return 0


def accuracy_figures(args, say) -> dict:
    """bench accuracy's figures (its JSON) for the arguments run_accuracy takes; `bench all` calls
    it in-process."""
    import dataclasses

    from host_tools.device_training import fp32_baseline, run_on_emulator
    from host_tools.protocol.device import HostModel, host_model
    from host_tools.protocol.workload import load_samples

    model = host_model(args.model, args.plan)
    epochs = args.epochs or model.training_plan.epochs or 1
    data = "mnist5k"
    train = load_samples(model, data, "train", args.limit)
    test = load_samples(model, data, "test", args.test_limit)
    plan = model.training_plan
    with_qas = run_on_emulator(args.board, model, train, test, plan, epochs, args.seed, True, say)
    plan_off = dataclasses.replace(plan, qas=False)
    model_off = HostModel(model.name, model.tflite, model.origin, plan_off)
    without_qas = run_on_emulator(args.board, model_off, train, test, plan_off, epochs, args.seed, True, say)
    return {
        "board": args.board, "model": model.name, "plan": plan.name or plan.source, "data": data,
        "epochs": epochs, "samples": len(train), "test_samples": len(test),
        "learning_rate": plan.lr, "lr_schedule": plan.lr_schedule.to_json_value(),
        "accuracy_before": with_qas.before.accuracy,
        "device_accuracy": with_qas.after.accuracy,
        "golden_accuracy": with_qas.golden_accuracy,
        "golden_bit_exact": with_qas.bit_exact,
        "baseline_fp32_accuracy": fp32_baseline(model.name, data, plan, epochs, args.limit, args.test_limit),
        "qas_off_device_accuracy": without_qas.after.accuracy,
        "qas_off_golden_bit_exact": without_qas.bit_exact,
        "peak_sram_bytes": with_qas.peak_sram_bytes,
        "instructions_per_step": int(sum(with_qas.instructions) / max(len(with_qas.instructions), 1)),
    }


def run_plan(args) -> int:
    from host_tools.bench_plan import BenchPlanSettings, bench_plan, write_outputs
    from host_tools.errors import McutrainError
    from host_tools.targets import get_target
    from quantize.planning.budget import parse_budget

    ram = get_target(args.board).ram_budget_bytes
    budgets = tuple(parse_budget(text.strip(), "--budgets") for text in args.budgets.split(","))
    for text, budget in zip(args.budgets.split(","), budgets):
        if budget > ram:
            raise McutrainError(f"--budgets {text.strip()}: {budget} bytes is above {args.board}'s RAM ({ram} bytes)")
    if args.seed == 0 or not 0 < args.seed < 2 ** 32:
        raise McutrainError(f"--seed {args.seed}: expected a non-zero 32-bit value (the device's seed)")
    if args.out and args.out.exists() and not args.out.is_dir():
        raise McutrainError(f"-o {args.out}: exists and is not a folder")
    settings = BenchPlanSettings(args.model, args.board, budgets, args.data, args.limit, args.test_limit, args.epochs,
                                 args.samples, args.layers, args.seed, args.no_progress or args.json)
    report = bench_plan(settings, lambda text: print(text, file=sys.stderr, flush=True))
    if args.out:
        write_outputs(args.out, report)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_plan_report(report)
    if args.out:
        print(f"wrote {args.out}/ ({', '.join(sorted(p.name for p in args.out.iterdir()))})",
              file=sys.stderr if args.json else sys.stdout)
    return 0


def _print_plan_report(report: dict) -> None:
    print(f"{report['model']} on {report['board']}, data {report['data']}"
          + (f" ({report['train']} / {report['test']})" if "train" in report else ""))
    if report["data_note"]:
        print(report["data_note"])
    settings = report["settings"]
    print(f"planning: contribution analysis {report['analysis_seconds']} s, {report.get('analysis_cpu_seconds')} "
          f"CPU seconds ({settings['samples']} samples, "
          f"{settings['layers']} layers, seed {settings['seed']}); planning time "
          f"{'at default settings' if report['default_settings'] else 'at these settings'} (analysis + the slowest "
          f"budget check and search): {report['planning_seconds_default']} s")
    if "held_out_accuracy" in report:
        held = report["held_out_accuracy"]
        print(f"analysis held-out accuracy (fp32 twin): {held['before']} as it is, {held['head_alone']} with the head "
              f"trained; the plans' gains are over the latter")
    if "load_average" in report:
        load = report["load_average"]
        print(f"(wall-clock on {load['cpus']} CPUs; 1-minute load average {load['before_analysis']} before the "
              f"analysis, {load['after_analysis']} after)")
    accuracy = report["measures"] == "accuracy"
    header = ["budget", "search s", "pred peak", "meas peak", "pred instr", "meas instr"]
    header += ["acc before", "acc after", "golden", "head only", "biases+head"] if accuracy else []
    lines = []
    for row in report["budgets"]:
        budget = row["budget_bytes"]
        cells = [f"{budget // 1024}KB" if budget % 1024 == 0 else f"{budget}B", _cell(row["search_seconds"], "{:.1f}")]
        if not row["feasible"]:
            lines.append((cells, f"    cannot fit: {row['error']}"))
            continue
        cells += [_cell(row[key], "{:,}") for key in ("predicted_peak_sram_bytes", "measured_peak_sram_bytes",
                                                       "predicted_instructions_per_step",
                                                       "measured_instructions_per_step")]
        if accuracy:
            cells += [_cell(row["accuracy_before"], "{:.3f}"), _cell(row["device_accuracy"], "{:.3f}"),
                      {True: "bit-exact", False: "DIFFERENT", None: "-"}[row["golden_bit_exact"]]]
            cells += [_simple_cell(row, name) for name in ("head_only", "biases_plus_head")]
        note = f"    plan: {row['plan']}"
        if row["device_error"]:
            note += f"\n    not run on the device: {row['device_error']}"
        lines.append((cells, note))
    widths = [max(len(header[i]), *(len(cells[i]) for cells, _ in lines if i < len(cells)))
              for i in range(len(header))]
    print("  ".join(h.rjust(w) for h, w in zip(header, widths)))
    for cells, note in lines:
        print("  ".join(c.rjust(w) for c, w in zip(cells, widths)))
        print(note)


def _cell(value, form: str) -> str:
    return "-" if value is None else form.format(value)


def _simple_cell(row: dict, name: str) -> str:
    """A simple plan's device accuracy, or why it has none."""
    if row[f"{name}_fits"] is None:
        return "-"
    if not row[f"{name}_fits"]:
        peak = row[f"{name}_predicted_peak_sram_bytes"]
        return "does not fit" + (f" ({peak / 1024:.0f}KB)" if peak else "")
    if row[f"{name}_device_accuracy"] is None and row[f"{name}_note"]:
        return "not built"
    return _cell(row[f"{name}_device_accuracy"], "{:.3f}")


def run_conformance(args) -> int:
    from host_tools.conformance import run_conformance as conformance
    from host_tools.protocol.metrics import progress_bar

    with progress_bar(args.models, "conformance", args.no_progress or args.json) as bar:
        figures = conformance(args.models, args.seed, args.board,
                              lambda text: (bar.set_postfix_str(text, refresh=False), bar.update(1)))
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"{figures['generated']} generated, {figures['compiled']} compiled ({figures['bit_exact']} bit-exact with "
          f"TFLite Micro on {args.board}, {figures['mismatched']} mismatched, {figures['crashed']} crashed), "
          f"{figures['refused']} refused")
    for reason, count in figures["refusals"].items():
        print(f"  refused {count:>3}: {reason}")
    return 0


def run_link(args) -> int:
    figures = link_figures(args)
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    for key, value in figures.items():
        print(f"{key:<24} {value}")
    return 0


def link_figures(args) -> dict:
    """bench link's figures (its JSON) for the device arguments run_link takes; `bench all` calls
    it in-process."""
    from host_tools.protocol.bench_link import bench_link
    from host_tools.protocol.device import host_model, open_device
    from host_tools.protocol.workload import load_samples

    model = host_model(args.model, args.plan)
    samples = load_samples(model, "fashion-mnist", "test", 10) if model.name == "ref" else None
    with open_device(args, quiet=args.json) as device:
        return bench_link(device, *((samples.x, samples.y) if samples else (None, None)))


def _register_all(benches) -> None:
    from host_tools import bench_all, readme_results

    every = benches.add_parser("all", help="every benchmark for ref and mbv2-w0.35-128, one report with plots",
                               description=bench_all.__doc__.split("\n\n", 1)[1],
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    every.add_argument("--board", choices=EMULATED, default="qemu-m7")
    every.add_argument("-o", "--out", type=Path, metavar="DIR", required=True,
                       help=f"write {bench_all.JSON_FILE}, {bench_all.REPORT_FILE} and the plots into DIR "
                            "(all or nothing)")
    defaults = bench_all.BenchAllSettings()
    every.add_argument("--models", default=",".join(defaults.models),
                       help=f"comma-separated, of {', '.join(bench_all.MODELS)} (default both)")
    counts = (("--limit", defaults.limit, "training samples of each device run"),
              ("--test-limit", defaults.test_limit, "test samples each device run is measured on"),
              ("--epochs", defaults.epochs, "epochs of each device run"),
              ("--samples", defaults.samples, "the contribution analysis's fine-tuning samples"),
              ("--layers", defaults.layers, "layers the analysis considers, from the head"))
    _add_counts(every, counts)
    every.add_argument("--search-seconds", type=float, default=defaults.search_seconds,
                       help=f"stop each search's generations after S seconds (default {defaults.search_seconds:g})")
    every.add_argument("--json", action="store_true", help="print the results file's JSON on stdout")
    every.set_defaults(func=run_all)

    readme = benches.add_parser("readme", help="rewrite README.md's generated results from a bench all results file")
    readme.add_argument("--results", type=Path, default=readme_results.RESULTS,
                        help=f"the bench_all.json (default {readme_results.RESULTS.relative_to(readme_results.ROOT)})")
    readme.add_argument("--readme", type=Path, default=readme_results.README, help="the README to rewrite")
    readme.add_argument("--check", action="store_true",
                        help="only compare: exit 1 when the README's generated block differs")
    readme.set_defaults(func=run_readme)


def run_all(args) -> int:
    from host_tools.bench_all import MODELS, BenchAllSettings, bench_all, write_outputs
    from host_tools.errors import McutrainError

    models = tuple(name.strip() for name in args.models.split(","))
    unknown = [name for name in models if name not in MODELS]
    if unknown:
        raise McutrainError(f"--models {args.models}: unknown {', '.join(unknown)} (expected {', '.join(MODELS)})")
    if args.out.exists() and not args.out.is_dir():
        raise McutrainError(f"-o {args.out}: exists and is not a folder")
    settings = BenchAllSettings(args.board, models, limit=args.limit, test_limit=args.test_limit, epochs=args.epochs,
                                samples=args.samples, layers=args.layers, search_seconds=args.search_seconds)
    report = bench_all(settings, lambda text: print(text, file=sys.stderr, flush=True))
    write_outputs(args.out, report)
    if args.json:
        print(json.dumps(report, indent=2))
    failed = [key for key, record in report["runs"].items() if "error" in record]
    print(f"wrote {args.out}/ in {report['wall_seconds']:.0f} s" + (f"; failed: {', '.join(failed)}" if failed else ""),
          file=sys.stderr if args.json else sys.stdout)
    return 0


def run_readme(args) -> int:
    from host_tools import readme_results

    return readme_results.run(args.results, args.readme, args.check)
