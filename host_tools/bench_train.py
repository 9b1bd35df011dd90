"""`mcutrain bench train`: what one training step costs on the emulated device, measured.

Two runs of the same blob (the model compiled with the plan): the product firmware over the
serial protocol gives the step's instructions as the TRAIN reply counts them and the device's own
peak SRAM (INFO); the model-runner image (firmware/src/app/model_runner.h) splits a step into the
forward pass, the loss, and per backward step its error pass and its updates, each with its MACs
and instructions per MAC (README.md of firmware/lib/train: the backward kernels). Instruction counts
are QEMU -icount counts (deterministic); the last of STEPS steps is reported (the first ones touch
the same code; counts vary slightly with the data, e.g. ReLU masks)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

STEPS = 3
SEED = 7


def _per_mac(instructions: int, macs: int) -> float | None:
    return round(instructions / macs, 3) if macs else None


def _samples(model, graph, count: int):
    from host_tools.protocol.workload import load_samples

    if model.name == "ref":
        samples = load_samples(model, "mnist5k", "train", count)
        return samples.x, [int(v) for v in samples.y]
    entry = graph.tensor(graph.int8_input)
    classes = int(np.prod(graph.tensor(graph.int8_output).shape))
    rng = np.random.default_rng(SEED)
    return rng.integers(-128, 128, (count, *entry.shape[1:]), dtype=np.int8), list(rng.integers(0, classes, count))


def bench_train(board: str, model) -> dict:
    """Figures of one training step of `model` (a HostModel with its plan) on `board`."""
    from host_tools.banner import read_banner
    from host_tools.emulator import Emulator
    from host_tools.firmware_build import build, build_with_model
    from host_tools.model_runner import ModelRunner, runner_flags
    from host_tools.protocol.session import Session
    from quantize.blob import read_header
    from quantize.errors import PlanError
    from quantize.lower import lower_tflite
    from quantize.memory_model import predicted_peak_sram
    from quantize.planning.cost import backward_macs, predicted_step_cost
    from quantize.planning.traffic import full_update_plan, kept_input_bytes
    from quantize.tflite_model import parse_tflite
    from quantize.training.program import derive_program

    plan = model.training_plan
    graph = parse_tflite(model.tflite)
    lowered = lower_tflite(model.tflite, model.name, plan=plan)
    header = read_header(lowered.blob)
    program = derive_program(graph, plan, plan.qas)
    predicted = predicted_step_cost(lowered, graph, program)
    x, labels = _samples(model, graph, STEPS)

    with tempfile.TemporaryDirectory() as scratch:
        # The runner reserves SRAM for the plan's trainable region (its default fits small plans only).
        reserve = f"-DMCUTRAIN_SIDELOAD_TRAINABLE_BYTES={-(-header['trainable_size'] // 16) * 16}"
        runner_elf = build(board, extra_flags=[*runner_flags(board), reserve], build_dir=Path(scratch) / "build").elf
        with ModelRunner(board, runner_elf, lowered.blob) as runner:
            for sample, label in zip(x, labels):
                timed = runner.train(sample, label)
            ns_per_tick = 1e9 / runner.counter_hz
    elf = build_with_model(board, model.tflite, model.name, model.origin, plan=model.plan).elf
    with Emulator(board, elf) as emulator:
        link = emulator.connect()
        read_banner(link)
        with Session(link, url=emulator.url) as device:
            device.set_config(plan.lr, True, SEED)  # the plan's gradient filters
            results = [device.train(sample, label) for sample, label in zip(x, labels)]
            info = device.info()
            ns_per_device_tick = 1e9 / info.counter_hz

    def instructions(ticks: int, per_tick: float = ns_per_tick) -> int:
        return round(ticks * per_tick)

    layers = []
    for step, backward, update in zip(program.steps, timed.backward, timed.update):
        error_macs, update_macs = backward_macs(graph, step)
        layer = {"op": step.op, "kind": step.kind, "weights": step.weights, "bias": step.bias,
                 "channels": len(step.channels), "input_error": step.input_error,
                 "gradient_filter": step.gradient_filter, "kept_input_bytes": kept_input_bytes(graph, step),
                 "macs": error_macs + update_macs, "instructions": instructions(backward + update),
                 "error_macs": error_macs, "error_instructions": instructions(backward),
                 "update_macs": update_macs, "update_instructions": instructions(update)}
        for part in ("", "error_", "update_"):
            layer[f"{part}instr_per_mac"] = _per_mac(layer[f"{part}instructions"], layer[f"{part}macs"])
        layers.append(layer)
    trained = [layer for layer in layers if layer["weights"] or layer["bias"]]
    try:
        full_lowered = lower_tflite(model.tflite, model.name, plan=full_update_plan(graph))
        full_peak = predicted_peak_sram(board, full_lowered.plan.arena_size,
                                        read_header(full_lowered.blob)["trainable_size"])
        full_note = "the memory model's figure for training every weight and bias (whether or not it fits)"
    except PlanError as err:
        full_peak, full_note = None, f"not computed: {err}"
    return {
        "board": board, "model": model.name, "plan": plan.name or plan.source,
        "clock": f"QEMU -icount shift=0: instructions = ticks * 1e9 / {info.counter_hz} Hz",
        "peak_sram_bytes": info.peak_sram_last_step,
        "predicted_peak_sram_bytes": predicted_peak_sram(board, header["arena_size"], header["trainable_size"]),
        "ram_budget_bytes": info.ram_budget,
        "trainable_bytes": header["trainable_size"],
        "arena_bytes": header["arena_size"],
        "instructions_per_step": instructions(results[-1].ticks, ns_per_device_tick),
        # quantize/planning/cost.py's linear model (fitted on qemu-m7), beside the measured figures
        "predicted_instructions_per_step": predicted.total,
        "predicted_forward_instructions": predicted.forward,
        "predicted_backward_instructions": predicted.backward,
        "predicted_update_instructions": predicted.update,
        "forward_instructions": instructions(timed.forward),
        "loss_instructions": instructions(timed.loss),
        "backward_instructions": sum(layer["error_instructions"] for layer in layers),
        "update_instructions": sum(layer["update_instructions"] for layer in layers),
        "backward_macs": sum(layer["macs"] for layer in layers),
        "kept_input_bytes": sum(layer["kept_input_bytes"] for layer in layers),
        "backward_instr_per_mac": _per_mac(sum(layer["instructions"] for layer in layers),
                                           sum(layer["macs"] for layer in layers)),
        "trained_layers_instr_per_mac": _per_mac(sum(layer["instructions"] for layer in trained),
                                                 sum(layer["macs"] for layer in trained)),
        "full_update_peak_sram_bytes": full_peak,
        "full_update_note": full_note,
        "layers": layers,
    }
