"""The device-facing CLI (info, infer, eval, train, checkpoint, reset, monitor, plot, bench link)
against the firmware on QEMU, run in-process through host_tools.cli.main."""

from __future__ import annotations

import csv
import json
import socket
import threading

import pytest

from host_tools import cli
from host_tools.emulator import Emulator
from host_tools.protocol import session as session_module
from host_tools.protocol.device import emulated_firmware

pytestmark = [pytest.mark.emulator, pytest.mark.slow]


def mcutrain(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def running_device():
    """One emulated device shared by the --port tests (state carries over between commands)."""
    with Emulator("qemu-m7", emulated_firmware("qemu-m7", "ref", quiet=True)) as emulator:
        yield emulator.url


def test_info_json_on_qemu_m7(capsys):
    code, out, err = mcutrain(capsys, "info", "--board", "qemu-m7", "--json")
    assert code == 0, err
    info = json.loads(out)
    assert (info["board"], info["model_name"], info["model_status"]) == ("qemu-m7", "ref", "ok")
    assert info["trainable_bytes"] > 0 and info["max_payload"] >= 785 and info["model_hash"].startswith("0x")


def test_info_text_on_qemu_stm32f405_with_trace(capsys):
    code, out, err = mcutrain(capsys, "info", "--board", "qemu-stm32f405", "--trace")
    assert code == 0, err
    assert "board     qemu-stm32f405 (cortex-m4" in out and "model     ref (hash 0x" in out
    assert "TRACE +" in err and "TX 12 bytes INFO seq=" in err and "0000  " in err
    assert "retry" not in err  # the host waits for the banner: the USART is on before the first request


def test_infer_agrees_bit_exactly_with_the_host_reference(capsys):
    code, out, err = mcutrain(capsys, "infer", "--board", "qemu-m7", "--data", "fashion-mnist", "--split", "test",
                              "--limit", "12", "--json", "--no-progress")
    assert code == 0, err
    report = json.loads(out)
    assert report["samples"] == 12 and report["reference_agrees_logits"] == 12
    assert report["reference_agrees_predictions"] == 12
    assert report["accuracy"] >= 0.5 and report["mean_instructions"] > 0


def test_device_commands_take_the_training_plan_the_firmware_was_built_with(capsys, tmp_path):
    # ref's 1x1 projection 128 -> 48 (operator 19) and the classifier (22) trainable: the firmware
    # keeps 7,656 bytes in SRAM, and the host lowers the same blob, so the model hashes agree.
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"version": 1, "trainable": [{"op": 19, "weights": True, "bias": True},
                                                            {"op": 22, "weights": True, "bias": True}]}))
    code, out, err = mcutrain(capsys, "info", "--board", "qemu-m7", "--plan", str(plan), "--json")
    assert code == 0, err
    assert json.loads(out)["trainable_bytes"] == 128 * 48 + 4 * 48 + 10 * 128 + 4 * 10
    code, out, err = mcutrain(capsys, "infer", "--board", "qemu-m7", "--plan", str(plan), "--data", "fashion-mnist",
                              "--split", "test", "--limit", "4", "--json", "--no-progress")
    assert code == 0, err
    assert json.loads(out)["reference_agrees_logits"] == 4


def test_device_commands_take_a_plan_by_name(capsys):
    # ref's demo plan (quantize/models/ref/plans/demo.json): the head, last_conv and b6_project.
    code, out, err = mcutrain(capsys, "info", "--board", "qemu-m7", "--plan", "demo", "--json")
    assert code == 0, err
    assert json.loads(out)["trainable_bytes"] == (10 * 128 + 4 * 10) + (128 * 48 + 4 * 128) + (48 * 128 + 4 * 48)

def test_eval_writes_per_step_csv_and_plot_draws_it(capsys, tmp_path):
    metrics = tmp_path / "eval.csv"
    code, out, err = mcutrain(capsys, "eval", "--data", "fashion-mnist", "--split", "test", "--limit", "8",
                              "--csv", str(metrics), "--no-progress")
    assert code == 0, err
    assert out.startswith("accuracy ") and "(8 of 10000, stratified by class, seed 0)" in out
    with metrics.open() as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 8 and {"step", "label", "predicted", "correct", "running_accuracy", "instructions"} <= set(rows[0])
    curve = tmp_path / "curve.png"
    code, out, err = mcutrain(capsys, "plot", str(metrics), "-o", str(curve))
    assert code == 0, err
    assert curve.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("board", ["qemu-m7", "qemu-stm32f405"])
def test_train_evaluates_and_saves_in_the_same_session_and_eval_loads_the_checkpoint(capsys, tmp_path, board):
    metrics, checkpoint = tmp_path / "train.csv", tmp_path / "ref.ckpt"
    code, out, err = mcutrain(capsys, "train", "--board", board, "--model", "ref", "--plan", "demo", "--data",
                              "mnist5k", "--limit", "40", "--epochs", "1", "--lr", "0.03", "--eval", "test",
                              "--eval-limit", "30", "--checkpoint-out", str(checkpoint), "--csv", str(metrics),
                              "--no-progress", "--json")
    assert code == 0, err
    report = json.loads(out)
    with metrics.open() as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 40 and report["steps"] == 40 and report["device_samples_trained"] == 40
    assert all(int(row["instructions"]) > 1_000_000 for row in rows)  # a training step, not a forward pass
    assert report["eval_samples"] == 30 and 0.0 <= report["eval_accuracy"] <= 1.0
    assert 0 < report["peak_sram_last_step"] <= 192 * 1024
    # A new emulator with the flashed parameters, then the saved ones: eval reproduces the accuracy.
    code, out, err = mcutrain(capsys, "eval", "--board", board, "--model", "ref", "--plan", "demo", "--data",
                              "mnist5k", "--limit", "30", "--checkpoint", str(checkpoint), "--csv",
                              str(tmp_path / "eval.csv"), "--no-progress", "--json")
    assert code == 0, err
    assert json.loads(out)["accuracy"] == report["eval_accuracy"]


def test_train_turns_the_plans_gradient_filters_on_and_off_as_the_golden_reference_does(capsys, tmp_path):
    # ref's demo-gf2 plan (r = 2 on ops 20 and 19), 12 steps with --gradient-filter (the default) and
    # with --no-gradient-filter: each run's losses are the golden reference's with SET_CONFIG's flag
    # the same, and the two runs differ.
    from host_tools.commands.train import run_plan, sample_order
    from host_tools.protocol.device import host_model
    from host_tools.protocol.workload import load_samples
    from quantize.blob import read_header
    from quantize.lower import lower_tflite
    from quantize.training.simulate import simulate_training

    model = host_model("ref", "demo-gf2")
    lowered = lower_tflite(model.tflite, model.name, plan=model.plan)
    samples = load_samples(model, "mnist5k", "train", 12)
    plan = run_plan(model.training_plan, None, None, 12)
    losses = {}
    for flag in ("--gradient-filter", "--no-gradient-filter"):
        metrics = tmp_path / f"{flag}.csv"
        code, out, err = mcutrain(capsys, "train", "--board", "qemu-m7", "--model", "ref", "--plan", "demo-gf2",
                                  "--data", "mnist5k", "--limit", "12", flag, "--csv", str(metrics), "--no-progress",
                                  "--json")
        assert code == 0, err
        assert json.loads(out)["gradient_filter"] == (flag == "--gradient-filter")
        with metrics.open() as file:
            losses[flag] = [row["loss"] for row in csv.DictReader(file)]
        golden = simulate_training(model.tflite, plan, lowered.trainable_layout,
                                   read_header(lowered.blob)["trainable_size"], samples.x, samples.y,
                                   sample_order(12, 1, 1, True), plan.lr_at, 1,
                                   gradient_filter=flag == "--gradient-filter")
        assert losses[flag] == [f"{q / 65536:.6f}" for q in golden.losses_q16], flag
    assert losses["--gradient-filter"] != losses["--no-gradient-filter"]


def test_a_checkpoint_for_another_plan_is_refused_in_one_line(capsys, tmp_path):
    checkpoint = tmp_path / "head.ckpt"
    code, _, err = mcutrain(capsys, "train", "--board", "qemu-m7", "--model", "ref", "--data", "mnist5k", "--limit",
                            "2", "--checkpoint-out", str(checkpoint), "--csv", str(tmp_path / "t.csv"), "--no-progress")
    assert code == 0, err
    code, _, err = mcutrain(capsys, "eval", "--board", "qemu-m7", "--model", "ref", "--plan", "demo", "--data",
                            "mnist5k", "--limit", "2", "--checkpoint", str(checkpoint), "--no-progress")
    error = err.strip().splitlines()[-1]  # after the build and emulator notes
    assert code == 1 and error.startswith("mcutrain: error: ") and "holds 1320 bytes for model ref" in error


def test_checkpoint_save_load_reset_and_monitor_over_port(capsys, tmp_path, running_device):
    saved = tmp_path / "ref.ckpt"
    code, out, err = mcutrain(capsys, "checkpoint", "save", str(saved), "--port", running_device, "--no-progress")
    assert code == 0, err
    assert "parameter bytes of ref saved to" in out and saved.stat().st_size > 40
    code, out, err = mcutrain(capsys, "checkpoint", "load", str(saved), "--port", running_device, "--no-progress",
                              "--json")
    assert code == 0, err
    assert json.loads(out)["action"] == "load"

    damaged = tmp_path / "damaged.ckpt"
    raw = bytearray(saved.read_bytes())
    raw[-1] ^= 0xFF
    damaged.write_bytes(bytes(raw))
    code, _, err = mcutrain(capsys, "checkpoint", "load", str(damaged), "--port", running_device, "--no-progress")
    assert code == 1 and "is damaged" in err and "Traceback" not in err

    other = tmp_path / "other.ckpt"
    raw = bytearray(saved.read_bytes())
    raw[24:28] = b"\x01\x02\x03\x04"  # the model hash field
    other.write_bytes(bytes(raw))
    code, _, err = mcutrain(capsys, "checkpoint", "load", str(other), "--port", running_device, "--no-progress")
    assert code == 1 and "the device runs ref" in err

    code, out, err = mcutrain(capsys, "reset", "--port", running_device)
    assert code == 0, err
    assert out.startswith("parameters reset to the flashed state:")

    code, out, err = mcutrain(capsys, "monitor", "--port", running_device, "--count", "2", "--interval", "0.1",
                              "--json")
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 2 and "errors" in lines[0] and lines[1]["frames_ok"] > lines[0]["frames_ok"]


def test_bench_link_reports_the_three_figures(capsys, running_device, monkeypatch):
    from host_tools.protocol import bench_link

    monkeypatch.setattr(bench_link, "SMALL_REQUESTS", 20)
    monkeypatch.setattr(bench_link, "BULK_REQUESTS", 4)
    monkeypatch.setattr(bench_link, "STEP_SAMPLES", 3)
    code, out, err = mcutrain(capsys, "bench", "link", "--port", running_device, "--json")
    assert code == 0, err
    figures = json.loads(out)
    assert figures["frames_per_s"] > 0 and figures["payload_bytes_per_s"] > 0
    assert (figures["step"], figures["pipelined"]) == ("train", True)  # ref's head trains; 785 bytes fit a frame
    # 0 when the pipelined stream hides the link entirely behind the computation
    assert 0 <= figures["host_overhead_fraction"] <= 1
    assert figures["pipelined_wall_ms"] > 0 and figures["compute_wall_ms"] >= 0


def test_no_device_is_one_line_and_exit_6(capsys):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, _, err = mcutrain(capsys, "info", "--port", f"socket://127.0.0.1:{port}")
    assert code == 6
    assert err.startswith(f"mcutrain: error: cannot open socket://127.0.0.1:{port}") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_wrong_firmware_times_out_with_a_hint(capsys, monkeypatch):
    monkeypatch.setattr(session_module, "REPLY_TIMEOUT_S", 0.2)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def silent_device():  # a serial device that prints text and never answers a frame
        conn, _ = server.accept()
        with conn:
            conn.sendall(b"hello from some other firmware\r\n")
            while conn.recv(1024):
                pass

    thread = threading.Thread(target=silent_device, daemon=True)
    thread.start()
    code, _, err = mcutrain(capsys, "info", "--port", f"socket://127.0.0.1:{server.getsockname()[1]}")
    server.close()
    assert code == 6
    assert "no reply within 0.2 s after 3 retries (is mcutrain firmware running there?)" in err
    assert "Traceback" not in err
