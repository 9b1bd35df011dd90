"""`mcutrain bench plan` on ref at small settings (a small analysis, 60 training steps per plan):
a budget the planner can meet gets a plan whose peak SRAM the device measures within the memory
model's tolerance and whose training the golden reference reproduces bit for bit; a budget below
the head alone is a row with the planner's one-line reason, not a crash; -o writes its files."""

from __future__ import annotations

import contextlib
import csv
import io
import json

import pytest

from host_tools.bench_plan import CSV_FILE, JSON_FILE, PLOT_FILE
from host_tools.cli import main
from quantize.memory_model import PEAK_TOLERANCE

FITS = 64 * 1024
TOO_SMALL = 30000  # below ref's head alone, even with every unit row-streamed (about 30.7 KB on qemu-m7)


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """(the --json object, the -o folder) of one run shared by the tests."""
    out_dir = tmp_path_factory.mktemp("bench-plan") / "report"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["bench", "plan", "--model", "ref", "--budgets", f"64KB,{TOO_SMALL}", "--limit", "60",
                     "--test-limit", "60", "--samples", "100", "--layers", "3", "--json", "-o", str(out_dir)]) == 0
    return json.loads(out.getvalue()), out_dir


@pytest.mark.emulator
@pytest.mark.slow
def test_bench_plan_json_has_the_planning_time_and_a_row_per_budget(bench):
    figures, _ = bench
    for key in ("model", "board", "data", "analysis_seconds", "planning_seconds_default", "budgets"):
        assert key in figures, key
    assert (figures["model"], figures["board"], figures["data"]) == ("ref", "qemu-m7", "mnist5k")
    assert 0 < figures["analysis_seconds"] < figures["planning_seconds_default"]
    assert [row["budget_bytes"] for row in figures["budgets"]] == [FITS, TOO_SMALL]
    for row in figures["budgets"]:
        for key in ("feasible", "error", "plan", "predicted_peak_sram_bytes", "measured_peak_sram_bytes",
                    "predicted_instructions_per_step", "measured_instructions_per_step", "device_accuracy",
                    "head_only_device_accuracy", "biases_plus_head_device_accuracy", "golden_bit_exact"):
            assert key in row, key


@pytest.mark.emulator
@pytest.mark.slow
def test_a_budget_that_fits_is_planned_measured_on_the_device_and_bit_exact(bench):
    row = bench[0]["budgets"][0]
    assert row["feasible"] and row["error"] is None
    assert row["plan"].startswith("head")
    assert row["predicted_peak_sram_bytes"] <= FITS
    assert abs(row["measured_peak_sram_bytes"] - row["predicted_peak_sram_bytes"]) <= PEAK_TOLERANCE, row
    assert row["measured_instructions_per_step"] > 0 and row["predicted_instructions_per_step"] > 0
    assert row["golden_bit_exact"] is True
    assert 0 <= row["device_accuracy"] <= 1
    # The head alone always fits where the planner found a plan; it trains on the same samples.
    assert row["head_only_fits"] and row["head_only_golden_bit_exact"] is True
    assert 0 <= row["head_only_device_accuracy"] <= 1
    if not row["biases_plus_head_fits"]:
        assert row["biases_plus_head_device_accuracy"] is None and row["biases_plus_head_note"]


@pytest.mark.emulator
@pytest.mark.slow
def test_a_budget_below_the_head_alone_is_a_row_with_the_reason(bench):
    row = bench[0]["budgets"][1]
    assert not row["feasible"]
    assert row["error"].startswith(f"budget {TOO_SMALL} bytes: ") and "\n" not in row["error"]
    assert "head alone" in row["error"]
    assert row["plan"] is None and row["measured_peak_sram_bytes"] is None and row["device_accuracy"] is None


@pytest.mark.emulator
@pytest.mark.slow
def test_out_folder_holds_the_json_the_csv_and_the_plot(bench):
    figures, out_dir = bench
    assert sorted(path.name for path in out_dir.iterdir()) == sorted((JSON_FILE, CSV_FILE, PLOT_FILE))
    assert json.loads((out_dir / JSON_FILE).read_text()) == figures
    with open(out_dir / CSV_FILE, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["budget_bytes"]) for row in rows] == [FITS, TOO_SMALL]
    assert (out_dir / PLOT_FILE).read_bytes().startswith(b"\x89PNG")
    assert not list(out_dir.parent.glob(".report.*"))  # the staging folder is gone
