"""README.md's results are generated from the committed `mcutrain bench all` results file, and
bench all's report shows what it measured and what failed (host_tools/bench_all.py,
bench_report.py, readme_results.py). No test here runs the benchmark itself: that takes most of
an hour; these check the rendering and the writing on a small synthetic results dict."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from host_tools import bench_all, bench_report, readme_results
from host_tools.bench_all import MBV2, REF, BenchAllSettings, Runs, memory_comparison


def test_readme_block_is_what_the_generator_makes_of_the_committed_results():
    report = json.loads(readme_results.RESULTS.read_text())
    readme = readme_results.README.read_text()
    assert readme.count(readme_results.BEGIN) == 1 and readme.count(readme_results.END) == 1
    assert readme_results.rewritten(readme, readme_results.render_block(report)) == readme, (
        "README.md's generated results differ from quantize/models/bench/bench_all.json: "
        "run `mcutrain bench readme` (never edit the block by hand)")


def test_the_committed_results_come_from_a_full_run():
    report = json.loads(readme_results.RESULTS.read_text())
    assert set(report["memory"]) == {REF, MBV2}
    defaults = json.loads(json.dumps(asdict(BenchAllSettings(report["board"]))))
    assert report["settings"] == defaults, "the README shows a run at the defaults"
    for name in (bench_all.REPORT_FILE, "memory-ref.png", "layers-ref.png", f"memory-{MBV2}.png"):
        assert (readme_results.RESULTS.parent / name).is_file(), name


def test_check_fails_in_one_line_when_the_block_is_edited(tmp_path, capsys):
    report = _report()
    results = tmp_path / "bench_all.json"
    results.write_text(json.dumps(report))
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n## Results\n\n{readme_results.BEGIN}\nold\n{readme_results.END}\n\nafter\n")
    assert readme_results.run(results, readme, check=True) == 1
    assert len(capsys.readouterr().out.strip().splitlines()) == 1
    assert readme_results.run(results, readme, check=False) == 0
    assert readme_results.run(results, readme, check=True) == 0
    text = readme.read_text()
    assert text.startswith("# x\n\n## Results\n\n") and text.endswith(f"{readme_results.END}\n\nafter\n")
    readme.write_text(text.replace("70,000 B", "69,000 B"))  # a hand-typed figure
    assert readme_results.run(results, readme, check=True) == 1


def test_report_shows_a_failed_sub_benchmark_with_its_error():
    report = _report()
    text = bench_report.render_report(report)
    assert "**failed**: BuildError: region RAM overflowed by 12 bytes" in text
    assert "`ref/plan` failed: PlanError: budget too small" in text
    # the memory comparison keeps the rows it has, and says why the others are missing
    assert "| full update (every weight and bias) | every layer | 270,000 B | predicted (memory model) | - |" in text
    assert "| head + W20 | 70,000 B | measured on the device | 3.9x |" in text
    assert "not available: BuildError: region RAM overflowed by 12 bytes" in text
    assert "Measured by `mcutrain bench all --board qemu-m7 --json -o DIR`" in text


def test_runs_records_an_error_and_the_rest_still_runs():
    lines = []
    runs = Runs(lines.append)

    def broken():
        raise RuntimeError("the emulator\nstopped")

    assert runs.run("a", "first", broken) is None
    assert runs.run("b", "second", lambda: {"x": 1}) == {"x": 1}
    assert runs.records["a"]["error"] == "RuntimeError: the emulator stopped"
    assert runs.records["b"]["result"] == {"x": 1} and "seconds" in runs.records["b"]
    assert any("a: FAILED" in line for line in lines)


def test_mbv2_shows_the_hand_plans_when_the_search_finds_the_head_alone():
    settings = BenchAllSettings()
    records = {f"{MBV2}/train/head": _ok(_train(125_000, 1_500_000)),
               f"{MBV2}/train/bias-only": _ok({"train": None, "predicted_peak_sram_bytes": 400_000}),
               f"{MBV2}/plan": _ok({"budgets": [{"budget_bytes": 128 * 1024, "feasible": True, "plan": "head",
                                                 "measured_peak_sram_bytes": 125_400,
                                                 "predicted_peak_sram_bytes": 125_500, "device_error": None}]}),
               f"{MBV2}/train/sparse": _ok(_train(130_000, 1_500_000)),
               f"{MBV2}/train/sparse-gf2": _ok(_train(127_000, 1_500_000))}
    rows = memory_comparison(records, settings, MBV2)
    assert [(row["peak_sram_bytes"], row["kind"]) for row in rows] == [
        (1_500_000, "predicted"), (400_000, "predicted"), (125_400, "measured"), (130_000, "measured"),
        (127_000, "measured")]
    assert "committed `sparse-gf2`" in rows[-1]["label"]


def test_outputs_are_written_all_or_nothing(tmp_path, monkeypatch):
    out = tmp_path / "bench"
    report = json.loads(json.dumps(_report()))  # as the file holds it (tuples become lists)
    bench_all.write_outputs(out, report)
    assert json.loads((out / bench_all.JSON_FILE).read_text()) == report
    assert {"report.md", "memory-ref.png", "layers-ref.png"} <= {path.name for path in out.iterdir()}

    def fail(folder, report):
        raise RuntimeError("plotting failed")

    monkeypatch.setattr(bench_report, "write_plots", fail)
    with pytest.raises(RuntimeError):
        bench_all.write_outputs(out, {**report, "date": "later"})
    assert json.loads((out / bench_all.JSON_FILE).read_text()) == report  # the earlier run, whole
    assert [path.name for path in tmp_path.iterdir()] == ["bench"]      # no staging folder left


# -- a small synthetic results dict ------------------------------------------------------------------

def _ok(result: dict) -> dict:
    return {"what": "synthetic", "seconds": 1.0, "result": result}


def _failed(error: str) -> dict:
    return {"what": "synthetic", "seconds": 1.0, "error": error}


def _train(peak: int, full: int) -> dict:
    return {"model": REF, "board": "qemu-m7", "peak_sram_bytes": peak, "predicted_peak_sram_bytes": peak + 100,
            "ram_budget_bytes": 262_144, "trainable_bytes": 1_000, "instructions_per_step": 5_000_000,
            "predicted_instructions_per_step": 4_900_000, "forward_instructions": 4_000_000,
            "backward_instructions": 900_000, "update_instructions": 100_000, "backward_macs": 700_000,
            "trained_layers_instr_per_mac": 1.4, "full_update_peak_sram_bytes": full,
            "full_update_note": "the memory model's figure", "kept_input_bytes": 128, "arena_bytes": 40_000,
            "layers": [{"op": 22, "kind": "FULLY_CONNECTED", "weights": True, "bias": True, "channels": 10,
                        "input_error": False, "gradient_filter": 1, "kept_input_bytes": 128, "macs": 1290,
                        "instructions": 36_000, "instr_per_mac": 27.9}]}


def _report() -> dict:
    settings = BenchAllSettings(models=(REF,))
    forward = {"model": REF, "board": "qemu-m7",
               "layers": [{"index": 0, "op": "CONV_2D", "macs": 100, "instructions": 120, "instr_per_mac": 1.2,
                           "arena_bytes": 64}],
               "total": {"macs": 100, "instructions": 120, "instr_per_mac": 1.2, "peak_arena_bytes": 64},
               "conv_and_depthwise": {"macs": 100, "instructions": 120, "instr_per_mac": 1.2}}
    records = {f"{REF}/forward": _ok(forward), f"{REF}/train/head": _ok(_train(70_000, 270_000)),
               f"{REF}/train/bias-only": _failed("BuildError: region RAM overflowed by 12 bytes"),
               f"{REF}/plan": _failed("PlanError: budget too small"),
               f"{REF}/plan-no-filter": _ok({"plan": "head + W20", "train": _train(70_000, 270_000)})}
    return {"command": bench_all.COMMAND.format(board="qemu-m7"), "date": "2026-12-02 20:00 UTC",
            "git": {"commit": "0123456789abcdef", "dirty": False},
            "machine": {"nproc": 2, "uname": "Linux 6.1 x86_64", "cpu": "a CPU", "load_average_at_start": 1.0,
                        "load_average_at_end": 2.0},
            "board": "qemu-m7", "settings": asdict(settings), "published": list(bench_all.PUBLISHED),
            "runs": records, "memory": {REF: memory_comparison(records, settings, REF)}, "wall_seconds": 60.0}


def test_bench_all_refuses_an_unknown_model_in_one_line(tmp_path, capsys):
    from host_tools.cli import main

    assert main(["bench", "all", "--models", "ref,nope", "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--models ref,nope: unknown nope" in err[0]
    assert not (tmp_path / "out").exists()
