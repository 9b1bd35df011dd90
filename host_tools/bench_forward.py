"""`mcutrain bench forward`: per-layer MACs, QEMU instruction counts and arena use of one forward pass.

Runs the model on the raw model-runner image (host_tools.model_runner) under QEMU with -icount
shift=0, where one guest instruction is one nanosecond of virtual time: the device's tick counter
at counter_hz therefore counts instructions exactly (instructions = ticks * 1e9 / counter_hz).
The figures are deterministic: the same build and model give the same counts on any machine.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from host_tools.model_runner import ModelRunner, build_runner
from quantize.lower import LoweredModel, lower_tflite

# The ops whose instructions-per-MAC the target is about.
CONV_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D")
SEED = 0


@dataclass
class LayerFigures:
    index: int
    op: str
    macs: int
    instructions: int
    arena_bytes: int

    def as_dict(self) -> dict:
        return {
            "index": self.index, "op": self.op, "macs": self.macs, "instructions": self.instructions,
            "instr_per_mac": round(self.instructions / self.macs, 3) if self.macs else None,
            "arena_bytes": self.arena_bytes,
        }


def live_arena_bytes(lowered: LoweredModel) -> list[int]:
    """For each op, the extent of the arena its live tensors occupy (highest byte in use)."""
    plan = lowered.plan
    extents = []
    for op_index in range(len(lowered.op_names)):
        live = [b for b in plan.buffers if b.first_use <= op_index <= b.last_use]
        extents.append(max((plan.offsets[b.name] + b.size for b in live), default=0))
    return extents


def bench_forward(board: str, tflite: bytes, name: str) -> dict:
    lowered = lower_tflite(tflite, name)
    with tempfile.TemporaryDirectory() as scratch:
        runner_elf = build_runner(board, Path(scratch) / "build").elf
        with ModelRunner(board, runner_elf, lowered.blob) as runner:
            rng = np.random.default_rng(SEED)
            invocation = runner.invoke(rng.integers(-128, 128, int(runner.info["input"]), dtype=np.int8))
            counter_hz = runner.counter_hz
    ns_per_tick = 1e9 / counter_hz
    arena = live_arena_bytes(lowered)
    layers = [
        LayerFigures(i, op, macs, round(ticks * ns_per_tick), arena[i])
        for i, (op, macs, ticks) in enumerate(zip(lowered.op_names, lowered.macs, invocation.op_ticks))
    ]
    conv = [layer for layer in layers if layer.op in CONV_OPS]
    total_macs = sum(layer.macs for layer in layers)
    total_instructions = sum(layer.instructions for layer in layers)
    conv_macs = sum(layer.macs for layer in conv)
    conv_instructions = sum(layer.instructions for layer in conv)
    return {
        "model": name,
        "board": board,
        "clock": f"QEMU -icount shift=0: instructions = ticks * 1e9 / {counter_hz} Hz",
        "layers": [layer.as_dict() for layer in layers],
        "total": {
            "macs": total_macs,
            "instructions": total_instructions,
            "instr_per_mac": round(total_instructions / total_macs, 3) if total_macs else None,
            "peak_arena_bytes": lowered.plan.arena_size,
        },
        "conv_and_depthwise": {
            "macs": conv_macs,
            "instructions": conv_instructions,
            "instr_per_mac": round(conv_instructions / conv_macs, 3) if conv_macs else None,
        },
    }
