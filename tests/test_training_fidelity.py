"""The firmware's training step is bit-exact with the golden reference, step after step.

Every case of tests/training_zoo.py (generated models with training plans that together cover every
backward op and option), plus `ref` with its demo plan, is lowered with its plan and trained for
STEPS steps on seeded random int8 samples and labels: by the golden reference
(quantize/training/step.py) and by the firmware's trainer in the native build (all cases in one
`pio test` run). After every step the loss, the predicted class and the CRC-32 of the trainable
region must be equal, and at the end the region's bytes. The golden updates must also move the
parameters (a test that trains nothing would prove nothing).
"""

from __future__ import annotations

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
from tests.native_runs import run_native_cases

STEPS = 50
REF_PLAN = ('{"version": 1, "trainable": [{"op": 22, "weights": true, "bias": true}, '
            '{"op": 20, "weights": true, "bias": true}, {"op": 19, "weights": true, "bias": true}]}')
RECORD = struct.Struct("<iBBI")  # per step: loss, predicted, correct, CRC-32 of the trainable region


class Run:
    """One model, plan and sample sequence, trained by the golden reference."""

    def __init__(self, name: str, tflite: bytes, plan_text: str, seed: int, lr: float):
        self.name = name
        self.graph = parse_tflite(tflite)
        self.plan = parse_plan(plan_text, f"{name} plan")
        self.lowered = lower_tflite(tflite, name[:16], plan=self.plan)
        self.lr = float(np.float32(lr))
        self.seed = seed
        entry = self.graph.tensor(self.graph.int8_input)
        classes = int(np.prod(self.graph.tensor(self.graph.int8_output).shape))
        rng = np.random.default_rng(seed)
        self.inputs = rng.integers(-128, 128, (STEPS, *entry.shape[1:]), dtype=np.int8)
        self.labels = rng.integers(0, classes, STEPS).astype(np.uint8)
        header = read_header(self.lowered.blob)
        self.region_size = header["trainable_size"]
        trainer = GoldenTrainer(self.graph, derive_program(self.graph, self.plan), seed)
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
        region = results[STEPS * RECORD.size:]
        assert len(region) == self.region_size
        if region != self.final:
            first = next(i for i, (a, b) in enumerate(zip(region, self.final)) if a != b)
            raise AssertionError(f"{self.name}: trainable byte {first}: device {region[first]}, golden {self.final[first]}")


CASES = training_zoo.cases()
NAMES = [c.name for c in CASES] + ["ref-demo"]


@pytest.fixture(scope="session")
def runs() -> dict[str, Run]:
    built = {}
    for i, case in enumerate(CASES):
        tflite = model_zoo.convert(case.model)
        built[case.name] = Run(case.name, tflite, training_zoo.plan_json(case, parse_tflite(tflite)), 11 + i,
                               (0.02, 0.05, 0.1)[i % 3])
    built["ref-demo"] = Run("ref-demo", load_reference_model("ref").tflite_bytes(), REF_PLAN, 5, 0.01)
    return built


@pytest.fixture(scope="session")
def native_results(runs, tmp_path_factory) -> dict[str, bytes | str]:
    """Runs every case in one native `pio test`; name -> the results file, or the failure line."""
    folder = tmp_path_factory.mktemp("training")
    lines = []
    for name, run in runs.items():
        (folder / f"{name}.blob").write_bytes(run.lowered.blob)
        run.inputs.tofile(folder / f"{name}.in")
        run.labels.tofile(folder / f"{name}.labels")
        lines.append(f"{name} {name}.blob {name}.in {name}.labels {STEPS} {run.lr!r} {run.seed} {name}.results")
    (folder / "cases.txt").write_text("\n".join(lines) + "\n")
    verdicts = run_native_cases("test_training_fidelity", "MCUTRAIN_TRAINING_DIR", folder)
    results: dict[str, bytes | str] = {name: (folder / f"{name}.results").read_bytes() if verdict == "PASSED"
                                       else verdict for name, verdict in verdicts.items()}
    return results


def test_zoo_covers_every_backward_op_and_option(runs):
    from quantize.training.program import BACKWARD_OPS

    seen = set()
    for run in runs.values():
        program = derive_program(run.graph, run.plan)
        for step in program.steps:
            op = run.graph.operators[step.op]
            seen.add(step.kind)
            if step.kind == "CONV_2D":
                o = op.options
                kernel = run.graph.tensor(op.inputs[1]).shape[1]
                seen |= {f"k{kernel}", f"stride{o.stride_h}", o.padding, f"conv-{o.activation}"}
            if step.kind == "FULLY_CONNECTED":
                seen.add(f"fc-{op.options.activation}")
            seen |= {f"weights={step.weights}", f"bias={step.bias}", f"input_error={step.input_error}"}
    wanted = set(BACKWARD_OPS) | {"k1", "k3", "k5", "stride1", "stride2", "SAME", "VALID", "conv-NONE", "conv-RELU",
                                  "conv-RELU6", "fc-NONE", "fc-RELU", "fc-RELU6", "weights=True", "weights=False",
                                  "bias=True", "bias=False", "input_error=True", "input_error=False"}
    assert wanted <= seen, f"not covered: {sorted(wanted - seen)}"
    assert len(CASES) >= 20


@pytest.mark.parametrize("name", NAMES)
def test_golden_training_moves_the_parameters(runs, name):
    run = runs[name]
    assert run.final != run.initial, f"{name}: {STEPS} golden steps changed no trainable byte"
    assert len({record[3] for record in run.records}) > STEPS // 2, f"{name}: most steps changed nothing"


@pytest.mark.parametrize("name", NAMES)
def test_native_training_is_bit_exact_with_golden(runs, native_results, name):
    result = native_results.get(name)
    assert isinstance(result, bytes), result or "no result"
    runs[name].compare(result)
