"""`mcutrain demo`'s pipeline: from a pretrained model to a device that learned, with no hardware and
no downloads. Each stage says what it did; the result is the summary (summary.json's keys) and the
per-step metrics the report folder keeps (host_tools/demo_report.py).

    model    the committed int8 model, checked against its manifest (or the user's .tflite)
    plan     mcutrain plan within the budget (quantize/planning/), or the plan given
    device   build, boot QEMU, accuracy before, train, accuracy after; the golden reference
             simulates the same run meanwhile (host_tools/device_training.py)
    fp32     the yardstick: TensorFlow fine-tuning of the same parameters at the same rates
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from host_tools.device_training import TrainingRun
from host_tools.errors import McutrainError

DEFAULT_MODEL = "ref"
DEFAULT_DATA = "mnist5k"
DEFAULT_EPOCHS = 1
DEFAULT_SEED = 1
STAGES = 7  # model, plan, build, boot, before, train, after (the fp32 yardstick is printed with the summary)


@dataclass(frozen=True)
class DemoSettings:
    board: str = "qemu-m7"
    model: str = DEFAULT_MODEL
    data: str = DEFAULT_DATA
    budget: int | None = None        # bytes; None: the board's RAM
    plan: str | None = None          # a plan file or name: skip planning
    epochs: int = DEFAULT_EPOCHS
    limit: int | None = None         # training samples
    test_limit: int | None = None
    seed: int = DEFAULT_SEED
    baseline: bool = True
    no_progress: bool = False


def check_emulator(board: str) -> None:
    """Refuses, before any work, a machine without the board's emulator."""
    import shutil

    from host_tools.emulator import QEMU_BINARY
    from host_tools.errors import SetupError

    if shutil.which(QEMU_BINARY) is None:
        raise SetupError(f"{QEMU_BINARY} not found on PATH: the demo runs {board} in QEMU; install it with "
                         f"`sudo apt-get install qemu-system-arm` (or `make setup`)")


def model_line(spec: str) -> str:
    """What the model stage says: for a reference model, that its committed int8 model is the one
    its manifest names (reused, not re-quantized); a mismatch is an error naming the rebuild."""
    from quantize.models import REFERENCE_MODELS, load_reference_model

    if spec not in REFERENCE_MODELS:
        from quantize.user_model import named_model

        model = named_model(spec)
        keras = f", its Keras model {model.keras_path.name} for the yardstick" if model.keras_path else ""
        return f"model {model.name}: {model.tflite_path.name if model.tflite_path else Path(spec).name}{keras}"
    reference = load_reference_model(spec)
    checked = []
    for name, digest in reference.manifest.get("sha256", {}).items():
        path = reference.folder / name
        if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            raise McutrainError(f"{path} is not the file its manifest names (sha256 differs): rebuild the model "
                                f"with python -m quantize.models.{'ref' if spec == 'ref' else 'mbv2'}")
        checked.append(name)
    return (f"model {spec}: the committed int8 model reused ({reference.tflite_path.name}; "
            f"{' and '.join(checked)} match the manifest)")


def budget_for(settings: DemoSettings) -> int:
    from host_tools.targets import get_emulated_target

    ram = get_emulated_target(settings.board).ram_budget_bytes
    budget = settings.budget if settings.budget is not None else ram
    if budget > ram:
        raise McutrainError(f"--budget: {budget} bytes is above {settings.board}'s RAM ({ram} bytes)")
    return budget


def choose_plan(model, graph, train, settings: DemoSettings, budget: int):
    """The training plan: the one given, checked against the budget by the memory model, or the
    planner's within the budget (its analysis on the train split the device will see)."""
    from host_tools.commands.plan import plan_with_progress
    from host_tools.targets import get_emulated_target
    from quantize.planning.contribution import AnalysisSettings
    from quantize.planning.planner import PlanRequest
    from quantize.training_plan import resolve_plan

    if settings.plan:
        plan = resolve_plan(settings.plan, model.name)
        _check_plan_fits(model, plan, budget, settings.board)
        return plan, f"plan {plan.name or settings.plan}: given"
    request = PlanRequest(budget, settings.board, epochs=settings.epochs, data=settings.data,
                          ram=get_emulated_target(settings.board).ram_budget_bytes)
    outcome = plan_with_progress(model, graph, train, request, AnalysisSettings(seed=0),
                                 "planning: contribution analysis", settings.no_progress)
    plan = outcome.plan
    predicted = plan.predicted
    return plan, (f"planned within {budget} bytes in {outcome.seconds:.0f} s: {describe_layers(plan)}; predicted "
                  f"peak SRAM {predicted['peak_sram_bytes']} bytes, {predicted['instructions_per_step']:,} "
                  f"instructions a step, lr {plan.lr:g}")


def _check_plan_fits(model, plan, budget: int, board: str) -> None:
    from quantize.blob import read_header
    from quantize.lower import lower_tflite
    from quantize.memory_model import predicted_peak_sram

    header = read_header(lower_tflite(model.tflite, model.name, plan=plan).blob)
    peak = predicted_peak_sram(board, header["arena_size"], header["trainable_size"])
    if peak > budget:
        raise McutrainError(f"plan {plan.name or plan.source}: its training step needs {peak} bytes of SRAM by the "
                            f"memory model, over the budget of {budget} bytes")


def describe_layers(plan) -> str:
    weights = [layer for layer in plan.layers if layer.weights]
    biases = [layer for layer in plan.layers if layer.bias and not layer.weights]
    filtered = sum(1 for layer in plan.layers if layer.gradient_filter > 1)
    parts = [f"{len(weights)} layers' weights"]
    if biases:
        parts.append(f"{len(biases)} more layers' biases")
    if filtered:
        parts.append(f"gradient filtering on {filtered}")
    return ", ".join(parts)


def run_demo(settings: DemoSettings, metrics, say: Callable[[str], None]) -> tuple[dict, TrainingRun]:
    """The whole demo: summary.json's object and the device run it summarises. `metrics`: the
    MetricsCsv that gets one row per training step."""
    from dataclasses import replace

    from host_tools.commands.train import run_plan
    from host_tools.device_training import fp32_baseline, run_on_emulator
    from host_tools.protocol.device import host_model
    from host_tools.protocol.workload import load_samples
    from quantize.errors import ModelImportError
    from quantize.planning.planner import check_budget
    from quantize.tflite_model import parse_tflite

    started = time.monotonic()
    check_emulator(settings.board)
    budget = budget_for(settings)
    stage = iter(range(1, STAGES + 1))

    def step(text: str) -> None:
        say(f"[{next(stage)}/{STAGES}] {text}")

    step(model_line(settings.model))
    model = host_model(settings.model)
    graph = parse_tflite(model.tflite)
    if not settings.plan:  # a model that cannot fit says so before the data is read
        check_budget(graph, model.name, budget, settings.board)
    train = load_samples(model, settings.data, "train", settings.limit)
    test = load_samples(model, settings.data, "test", settings.test_limit)
    chosen, plan_text = choose_plan(model, graph, train, settings, budget)
    step(plan_text)
    model = replace(model, plan=chosen)
    plan = run_plan(chosen, None, "cosine", len(train) * settings.epochs)
    run = run_on_emulator(settings.board, model, train, test, plan, settings.epochs, settings.seed,
                          settings.no_progress, say=step, metrics=metrics)
    baseline, baseline_note = None, "skipped (--no-baseline)"
    if settings.baseline:
        try:
            baseline = fp32_baseline(settings.model, settings.data, plan, settings.epochs, settings.limit,
                                     settings.test_limit)
            baseline_note = "TensorFlow SGD of the same parameters, same rates and epochs, one sample a step"
        except ModelImportError as err:  # a user's int8 model without its Keras model beside it
            baseline_note = f"not available: {err}"
    instructions = int(round(sum(run.instructions) / len(run.instructions)))
    energy = _energy(settings.board, model, plan, instructions)
    return {
        "accuracy_before": round(run.before.accuracy, 4),
        "accuracy_after": round(run.after.accuracy, 4),
        "baseline_fp32_accuracy": None if baseline is None else round(baseline, 4),
        "baseline_fp32_note": baseline_note,
        "golden_accuracy": round(run.golden_accuracy, 4),
        "golden_bit_exact": run.bit_exact,
        "golden_steps_equal": run.golden_steps_equal,
        "steps": run.steps,
        "peak_sram_bytes": run.peak_sram_bytes,
        "ram_budget_bytes": budget,
        "board_ram_bytes": run.ram_budget_bytes,
        "memory": {"firmware_static_bytes": run.static_ram_bytes - run.arena_bytes - run.trainable_bytes,
                   "stack_bytes": run.peak_sram_bytes - run.static_ram_bytes,
                   "arena_bytes": run.arena_bytes, "trainable_bytes": run.trainable_bytes},
        "instructions_per_step": instructions,
        "samples_per_second": round(run.steps / run.train_seconds, 2),
        "samples_per_second_note": "TRAIN steps a wall-clock second on the emulator, host and link included",
        **energy,
        "wall_seconds": round(time.monotonic() - started, 1),
        "board": settings.board,
        "model": settings.model,
        "data": settings.data,
        "train_samples": len(train),
        "test_samples": len(test),
        "epochs": settings.epochs,
        "build": run.build_line,
        "device_crc32": f"0x{run.device_crc:08x}",
        "plan": plan.to_dict(),
    }, run


def _energy(board: str, model, plan, instructions: int) -> dict:
    """energy_per_step_uj on the real board behind `board` (quantize/planning/energy.py)."""
    from quantize.planning.energy import estimate_step_energy

    estimate = estimate_step_energy(board, model.tflite, model.name, plan, instructions)
    return {"energy_per_step_uj": round(estimate.total_uj, 1), "energy_board": estimate.real_board,
            "energy_sources": list(estimate.sources)}
