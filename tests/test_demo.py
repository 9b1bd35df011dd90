"""`mcutrain demo` (what `make demo` runs): a short run end to end on qemu-m7 (plan within the budget,
build, train on the device, the golden reference agreeing, the report folder), and the errors a
newcomer can hit, each ending with one line, no emulator left running and no half-written report."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from host_tools import emulator as emulator_module
from host_tools.cli import main
from host_tools.demo_report import FILES

ROOT = Path(__file__).resolve().parent.parent


def _leftovers(folder: Path) -> list[str]:
    """The report folder and any staging folder beside it."""
    return sorted(p.name for p in folder.parent.iterdir() if p.name.startswith((folder.name, f".{folder.name}")))


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err and err[-1].startswith("mcutrain: error: "), err
    return err[-1]


@pytest.mark.emulator
def test_short_demo_plans_trains_and_agrees_with_the_golden_reference(tmp_path, capsys):
    """CI's short demo: a few hundred samples, planned within 128 KB on qemu-m7."""
    report = tmp_path / "report"
    assert main(["demo", "--limit", "300", "--test-limit", "200", "--budget", "128KB", "--no-baseline",
                 "--no-progress", "--report", str(report)]) == 0
    out = capsys.readouterr().out
    summary = json.loads((report / "summary.json").read_text())
    assert summary["accuracy_after"] > summary["accuracy_before"]
    assert summary["peak_sram_bytes"] <= summary["ram_budget_bytes"] == 128 * 1024
    assert summary["golden_bit_exact"] and summary["golden_steps_equal"] == summary["steps"] == 300
    assert summary["golden_accuracy"] == summary["accuracy_after"]
    assert summary["plan"]["sram_budget"] == 128 * 1024 and summary["plan"]["trainable"]
    memory = summary["memory"]
    assert sum(memory.values()) == summary["peak_sram_bytes"]
    assert summary["energy_per_step_uj"] > 0 and summary["energy_sources"]
    assert sorted(p.name for p in report.iterdir()) == sorted(FILES)
    rows = (report / "metrics.csv").read_text().splitlines()
    assert len(rows) == 1 + 300
    assert "[2/7] planned within 131072 bytes" in out
    assert "agrees: 300/300 steps (loss, prediction) equal, final trainable parameters bit-exact" in out
    assert _leftovers(report) == ["report"]


def test_missing_emulator_is_named_before_any_work(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no qemu-system-arm on it
    report = tmp_path / "report"
    assert main(["demo", "--report", str(report), "--no-progress"]) == 3
    assert "qemu-system-arm not found on PATH" in _one_line_error(capsys)
    assert _leftovers(report) == []


def test_a_model_that_does_not_fit_the_budget_is_refused_in_one_line(tmp_path, capsys):
    report = tmp_path / "report"
    assert main(["demo", "--model", "mbv2-w0.35-128", "--budget", "64KB", "--report", str(report),
                 "--no-progress"]) == 1
    line = _one_line_error(capsys)
    assert "65536" in line and "forward pass" in line
    assert _leftovers(report) == []


def test_a_dataset_that_does_not_fit_the_model_is_refused_in_one_line(tmp_path, capsys):
    rng = np.random.default_rng(0)
    data = tmp_path / "twelve.npz"
    np.savez(data, x=rng.integers(0, 255, (24, 28, 28), dtype=np.uint8), y=np.arange(24) % 12,
             x_test=rng.integers(0, 255, (12, 28, 28), dtype=np.uint8), y_test=np.arange(12))
    report = tmp_path / "report"
    assert main(["demo", "--data", f"npz:{data}", "--report", str(report), "--no-progress"]) == 1
    assert "12 classes, model ref outputs 10" in _one_line_error(capsys)
    assert _leftovers(report) == []


@pytest.mark.emulator
def test_the_emulators_port_in_use_is_one_line_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    """Another program holds the port chosen for QEMU's serial line, every time."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        monkeypatch.setattr(emulator_module, "free_port", lambda: port)
        report = tmp_path / "report"
        assert main(["demo", "--plan", "demo", "--limit", "20", "--test-limit", "10", "--no-baseline",
                     "--no-progress", "--report", str(report)]) == 5
    line = _one_line_error(capsys)
    assert f"127.0.0.1:{port} and the other ports tried (3) are in use by another program" in line
    assert not list(emulator_module._live)
    assert _leftovers(report) == []


@pytest.mark.emulator
def test_ctrl_c_in_the_middle_of_training_stops_everything_and_writes_no_report(tmp_path):
    report = tmp_path / "report"
    # PYTHONFAULTHANDLER: should the demo hang, SIGABRT prints where each thread is (in the failure).
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1"}
    # stderr in a file, not a pipe: a child that outlives the demo (its forked golden worker) would
    # hold a pipe open, and the stack dump of a hang would be lost waiting for its end.
    stderr_path = tmp_path / "stderr.txt"
    with stderr_path.open("w") as stderr:
        demo = subprocess.Popen([sys.executable, "-m", "host_tools.cli", "demo", "--plan", "demo", "--limit", "3000",
                                 "--test-limit", "20", "--no-baseline", "--no-progress", "--report", str(report)],
                                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr,
                                start_new_session=True)  # its own process group, as a terminal's foreground job
    try:
        metrics = None
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and demo.poll() is None:
            staged = list(tmp_path.glob(".report.partial-*/metrics.csv"))
            if staged and len(staged[0].read_text().splitlines()) > 20:  # training is under way
                metrics = staged[0]
                break
            time.sleep(0.5)
        if metrics is None:
            demo.kill()
            demo.wait()
            raise AssertionError(f"training did not start (exit {demo.returncode}): "
                                 f"{stderr_path.read_text()[-2000:]}")
        os.killpg(demo.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole foreground group
        try:
            demo.wait(timeout=60)
        except subprocess.TimeoutExpired:
            tree = _session_processes(demo.pid)
            demo.send_signal(signal.SIGABRT)  # PYTHONFAULTHANDLER: every thread's stack into stderr
            demo.wait(timeout=30)
            raise AssertionError(f"no exit 60 s after Ctrl-C; processes: {tree}; "
                                 f"stacks: {stderr_path.read_text()[-6000:]}") from None
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
    err = stderr_path.read_text()
    assert demo.returncode == 130, err
    assert err.strip().splitlines()[-1] == "mcutrain: interrupted"
    time.sleep(0.5)
    left = _session_processes(demo.pid)
    assert left == "", f"processes left behind: {left}"
    assert _leftovers(report) == []


def _session_processes(session: int) -> str:
    """The processes still in a session (QEMU, golden workers), one per line, or ''."""
    return subprocess.run(["ps", "-o", "pid=,stat=,wchan:24=,args=", "-s", str(session)], capture_output=True,
                          text=True).stdout.strip()
