"""`mcutrain compile model.tflite -o OUTDIR`: validate the model and write its blob and C++ source."""

from __future__ import annotations

from pathlib import Path

from host_tools.model_source import MODEL_HELP


def register(subparsers) -> None:
    parser = subparsers.add_parser("compile", help="compile an int8 .tflite (or a reference model) into a firmware model blob")
    parser.add_argument("model", help=MODEL_HELP)
    parser.add_argument("-o", "--out", type=Path, required=True, help="output folder (written all-or-nothing)")
    parser.add_argument("--name", help="model name stored in the blob (default: the file's stem)")
    parser.add_argument("--plan", help="training plan: a JSON file, or the name of a plan committed beside the "
                        "model (quantize/models/<model>/plans/<name>.json): the layers whose parameters the device "
                        "may update (default: the classifier head; see quantize/training_plan.py)")
    parser.set_defaults(func=run)


def run(args) -> int:
    from host_tools.model_source import resolve_model
    from quantize.blob import read_header
    from quantize.compile import compile_tflite
    from quantize.training_plan import resolve_plan

    source = resolve_model(args.model)
    plan = resolve_plan(args.plan, source.name) if args.plan else None
    compiled = compile_tflite(source.tflite, args.name or source.name, args.out, source.origin, plan)
    lowered = compiled.lowered
    print(f"{source.origin}: {len(lowered.op_names)} ops, {sum(lowered.macs)} MACs, "
          f"blob {len(lowered.blob)} bytes, arena {lowered.plan.arena_size} bytes, "
          f"trainable {read_header(lowered.blob)['trainable_size']} bytes")
    print(f"wrote {compiled.out_dir}/ (model.blob, model_blob.cpp, memory_plan.txt)")
    return 0
