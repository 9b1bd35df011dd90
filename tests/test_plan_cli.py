"""`mcutrain plan` end to end on the host (small analysis settings): the plan file it writes is what
compile takes, within the budget by the memory model and carrying its predictions; the report
folder holds the CSV and plots; the same seed gives the same plan."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from host_tools import project
from quantize.lower import lower_graph, step_sram
from quantize.models import load_reference_model
from quantize.planning.planner import DEVICE_RATES
from quantize.tflite_model import parse_tflite
from quantize.training_plan import resolve_plan

BUDGET = 96 * 1024
SMALL = ["--samples", "96", "--layers", "3"]  # a few candidates: seconds, not the 90 s of the defaults
JSON_KEYS = ("seconds", "predicted_peak_sram_bytes", "predicted_instructions_per_step", "predicted_gain",
             "trained_params")


def _mcutrain(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "host_tools.cli", *args], capture_output=True, text=True,
                          cwd=project.ROOT, timeout=600)


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plan")
    runs = []
    for name, extra in (("json", ["--json", "--report", str(folder / "report")]), ("text", [])):
        out = folder / f"{name}.json"
        proc = _mcutrain("plan", "ref", "--data", "mnist5k", "--budget", "96KB", *SMALL, "--seed", "3",
                         "--no-progress", "-o", str(out), *extra)
        assert proc.returncode == 0, proc.stderr
        runs.append((proc, out))
    return folder, runs


def test_the_json_report_has_the_figures(planned):
    _, ((proc, out), _) = planned
    report = json.loads(proc.stdout)
    assert all(key in report for key in JSON_KEYS)
    assert report["predicted_peak_sram_bytes"] <= BUDGET and report["trained_params"] > 0
    assert report["plan_file"] == str(out) and report["plan"]["sram_budget"] == BUDGET
    assert [row["op"] for row in report["layers"]][0] == 22  # the head first, always trained


def test_the_written_plan_is_what_compile_takes_within_the_budget(planned):
    _, ((proc, out), _) = planned
    plan = resolve_plan(out, "ref")
    graph = parse_tflite(load_reference_model("ref").tflite_bytes())
    peak = step_sram(lower_graph(graph, "ref", plan=plan))  # as compile, build and train lower it
    assert peak == plan.predicted["peak_sram_bytes"] == json.loads(proc.stdout)["predicted_peak_sram_bytes"]
    assert peak <= BUDGET and plan.sram_budget == BUDGET
    # the device rate: the one of DEVICE_RATES the golden reference scored best with on this plan
    by_rate = plan.predicted["golden_accuracy_by_lr"]
    assert [float(rate) for rate in by_rate] == list(DEVICE_RATES) and plan.lr == float(max(by_rate, key=by_rate.get))
    compiled = _mcutrain("compile", "ref", "--plan", str(out), "-o", str(out.parent / "compiled"))
    assert compiled.returncode == 0, compiled.stderr


def test_the_same_seed_gives_the_same_plan(planned):
    _, ((_, first), (_, second)) = planned
    assert first.read_text() == second.read_text()  # layers, channels, filters and predictions alike


def test_the_text_output_is_a_table_and_the_plan(planned):
    _, (_, (proc, out)) = planned
    assert proc.stdout.splitlines()[1].split()[:4] == ["op", "layer", "trained", "channels"]
    assert "predicted: peak SRAM" in proc.stdout and f"wrote {out}" in proc.stdout


def test_the_report_folder_holds_the_contribution_table_and_plots(planned):
    folder, _ = planned
    report = folder / "report"
    rows = list(csv.DictReader((report / "contribution.csv").open()))
    kinds = {row["kind"] for row in rows}
    assert kinds >= {"head", "bias", "weights"} and {row["ratio"] for row in rows} >= {"1.0", "0.5", "0.25", "0.125"}
    golden = list(csv.DictReader((report / "golden_check.csv").open()))
    assert golden and all("golden_gain" in row for row in golden)
    for plot in ("gain_per_layer.png", "memory.png"):
        assert (report / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert resolve_plan(report / "plan.json", "ref").layers
