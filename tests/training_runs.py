"""The training sequences both fidelity tests run: each case of tests/training_zoo.py plus `ref`
with its demo plan, trained for STEPS steps on seeded random samples and labels by the golden
reference (quantize/training/step.py), with what the device must reproduce after every step."""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np
import pytest

from quantize.blob import read_header
from quantize.lower import lower_tflite
from quantize.models import load_reference_model
from quantize.tflite_model import parse_tflite
from quantize.training.program import derive_program
from quantize.training.step import GoldenTrainer, trainable_region
from quantize.training_plan import parse_plan
from tests import model_zoo, training_zoo

STEPS = 50
REF_PLAN = ('{"version": 1, "trainable": [{"op": 22, "weights": true, "bias": true}, '
            '{"op": 20, "weights": true, "bias": true}, {"op": 19, "weights": true, "bias": true}]}')
# ref's last residual blocks (ADD at 9 and 16, depthwise at 14 and 18): biases from operator 12 on,
# whose output feeds both operator 13 and the ADD at 16 (the error accumulates there), and the
# weights of the last block's depthwise and projection, the 1x1 before the pooling and the head.
REF_BLOCKS_PLAN = json.dumps({"version": 1, "trainable": [
    {"op": op, "weights": op in (18, 19, 20, 22), "bias": True} for op in (12, 13, 14, 15, 17, 18, 19, 20, 22)]})
RECORD = struct.Struct("<iBBI")  # per step: loss, predicted, correct, CRC-32 of the trainable region


class Run:
    """One model, plan and sample sequence, trained by the golden reference."""

    def __init__(self, name: str, tflite: bytes, plan_text: str, seed: int, lr: float, gradient_filter: bool = True,
                 steps: int = STEPS):
        self.name = name
        self.gradient_filter = gradient_filter  # SET_CONFIG's flag for the whole run
        self.graph = parse_tflite(tflite)
        self.plan = parse_plan(plan_text, f"{name} plan")
        self.lowered = lower_tflite(tflite, name[:16], plan=self.plan)
        self.lr = float(np.float32(lr))
        self.seed = seed
        entry = self.graph.tensor(self.graph.int8_input)
        classes = int(np.prod(self.graph.tensor(self.graph.int8_output).shape))
        rng = np.random.default_rng(seed)
        self.inputs = rng.integers(-128, 128, (steps, *entry.shape[1:]), dtype=np.int8)
        self.labels = rng.integers(0, classes, steps).astype(np.uint8)
        header = read_header(self.lowered.blob)
        self.region_size = header["trainable_size"]
        trainer = GoldenTrainer(self.graph, derive_program(self.graph, self.plan), seed)
        trainer.configure(seed, gradient_filter)
        self.initial = trainable_region(self.lowered.trainable_layout, self.region_size, {}, self.graph)
        self.records = []
        for x, label in zip(self.inputs, self.labels):
            r = trainer.step(x, int(label), self.lr)
            region = trainable_region(self.lowered.trainable_layout, self.region_size, trainer.params, self.graph)
            self.records.append((r.loss_q16, r.predicted, int(r.correct), zlib.crc32(region)))
        self.final = region

    def compare(self, results: bytes) -> None:
        """Asserts the device's results file equals the golden run; names the first difference."""
        for step, want in enumerate(self.records):
            got = RECORD.unpack_from(results, step * RECORD.size)
            assert got == want, (f"{self.name}: step {step}: device (loss, predicted, correct, region crc) {got}, "
                                 f"golden {want}")
        region = results[len(self.records) * RECORD.size:]
        assert len(region) == self.region_size
        if region != self.final:
            first = next(i for i, (a, b) in enumerate(zip(region, self.final)) if a != b)
            raise AssertionError(f"{self.name}: trainable byte {first}: device {region[first]}, golden {self.final[first]}")


def write_cases(runs: dict[str, "Run"], folder) -> None:
    """The runs as the native test_training_fidelity program's case list and files in `folder`."""
    lines = []
    for name, run in runs.items():
        (folder / f"{name}.blob").write_bytes(run.lowered.blob)
        run.inputs.tofile(folder / f"{name}.in")
        run.labels.tofile(folder / f"{name}.labels")
        lines.append(f"{name} {name}.blob {name}.in {name}.labels {STEPS} {run.lr!r} {run.seed} "
                     f"{int(run.gradient_filter)} {name}.results")
    (folder / "cases.txt").write_text("\n".join(lines) + "\n")


CASES = training_zoo.cases()
# The largest learning rate SET_CONFIG takes: updates reach past +-127 and the clamps of README
# "Updates" act.
LARGE_STEPS = {"t38_dense_odd": 1.0, "t36_pointwise_odd": 1.0}
# ref's demo plan with r = 2 on its two trained 1x1 convolutions (7x7: clipped edge patches), run
# with SET_CONFIG's gradient-filter flag on and off.
REF_GF_PLAN = json.dumps({"version": 2, "trainable": [
    {"op": 22, "weights": True, "bias": True}, {"op": 20, "weights": True, "bias": True, "gradient_filter": 2},
    {"op": 19, "weights": True, "bias": True, "gradient_filter": 2}]})
REF_RUNS = {"ref-demo": (REF_PLAN, 5, 0.01, True), "ref-blocks": (REF_BLOCKS_PLAN, 6, 0.01, True),
            "ref-gf2": (REF_GF_PLAN, 7, 0.05, True), "ref-gf2-off": (REF_GF_PLAN, 7, 0.05, False)}
NAMES = [c.name for c in CASES] + list(REF_RUNS)


@pytest.fixture(scope="session")
def runs() -> dict[str, Run]:
    built = {}
    for i, case in enumerate(CASES):
        tflite = model_zoo.convert(case.model)
        built[case.name] = Run(case.name, tflite, training_zoo.plan_json(case, parse_tflite(tflite)), 11 + i,
                               LARGE_STEPS.get(case.name, (0.02, 0.05, 0.1)[i % 3]))
    ref = load_reference_model("ref").tflite_bytes()
    for name, (plan, seed, lr, gradient_filter) in REF_RUNS.items():
        built[name] = Run(name, ref, plan, seed, lr, gradient_filter)
    return built
