"""A plan `mcutrain plan` searched for `ref` within 64 KB, run on qemu-m7: the device's peak SRAM is
the plan's prediction (within the memory model's tolerance), the device agrees with the golden
reference bit for bit, and it learns at least as well as the simple plans that fit the same budget
(the head alone; the biases of all layers plus the head), trained on the same samples at the same
rates."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest

from host_tools import project
from quantize.lower import lower_graph, step_sram
from quantize.memory_model import PEAK_TOLERANCE
from quantize.models import load_reference_model
from quantize.planning.contribution import has_bias
from quantize.tflite_model import parse_tflite
from quantize.training_plan import PARAMETRIC_OPS, PlannedLayer, TrainingPlan, load_plan

pytestmark = [pytest.mark.emulator, pytest.mark.slow]

BUDGET = 64 * 1024
BOARD = "qemu-m7"
TRAIN, TEST = 1000, 500   # samples of mnist5k's train and test splits, one epoch


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    out = tmp_path_factory.mktemp("plan") / "plan64.json"
    proc = subprocess.run([sys.executable, "-m", "host_tools.cli", "plan", "ref", "--data", "mnist5k", "--budget",
                           "64KB", "--board", BOARD, "--no-progress", "-o", str(out)], capture_output=True, text=True,
                          cwd=project.ROOT, timeout=900)
    assert proc.returncode == 0, proc.stderr
    return load_plan(out)


def simple_plans(graph) -> dict[str, TrainingPlan]:
    head = max(op.index for op in graph.operators if op.op == "FULLY_CONNECTED")
    biases = tuple(PlannedLayer(op.index, False, True) for op in reversed(graph.operators[:head])
                   if op.op in PARAMETRIC_OPS and has_bias(graph, op.index))
    return {"head only": TrainingPlan((PlannedLayer(head, True, True),)),
            "biases plus head": TrainingPlan((PlannedLayer(head, True, True), *biases))}


def device_run(plan: TrainingPlan, rates: TrainingPlan):
    from host_tools.commands.train import run_plan
    from host_tools.device_training import run_on_emulator
    from host_tools.protocol.device import HostModel
    from host_tools.protocol.workload import load_samples

    model = load_reference_model("ref")
    host = HostModel("ref", model.tflite_bytes(), str(model.tflite_path), plan)
    train = load_samples(host, "mnist5k", "train", TRAIN)
    test = load_samples(host, "mnist5k", "test", TEST)
    scheduled = run_plan(replace(plan, lr=rates.lr), rates.lr, "cosine", len(train))
    return run_on_emulator(BOARD, host, train, test, scheduled, 1, 1, True, say=lambda text: None)


def test_the_searched_plan_fits_learns_and_beats_the_simple_plans(searched):
    graph = parse_tflite(load_reference_model("ref").tflite_bytes())
    assert searched.predicted["peak_sram_bytes"] <= BUDGET
    run = device_run(searched, searched)
    assert run.bit_exact
    assert abs(run.peak_sram_bytes - searched.predicted["peak_sram_bytes"]) <= PEAK_TOLERANCE
    assert run.after.accuracy > run.before.accuracy
    compared = 0
    for name, plan in simple_plans(graph).items():
        plan = replace(plan, sram_budget=BUDGET)
        if step_sram(lower_graph(graph, "ref", plan=plan)) > BUDGET:
            continue  # does not fit the budget: not a plan the search competes with
        simple = device_run(plan, searched)
        assert simple.bit_exact
        assert run.after.accuracy >= simple.after.accuracy, name
        compared += 1
    assert compared >= 1  # the head alone always fits 64 KB on ref
