"""The device measures the SRAM a training step takes (INFO's peak: static RAM plus the stack's
high-water mark after training) and the host's memory model (quantize/memory_model.py) predicts
it from the compiled blob: the two agree within PEAK_TOLERANCE, on both emulated boards, for `ref`
with two plans and for generated models of other shapes."""

from __future__ import annotations

import numpy as np
import pytest

from host_tools.banner import read_banner
from host_tools.emulator import Emulator
from host_tools.firmware_build import build_with_model
from host_tools.protocol.device import HostModel, host_model
from host_tools.protocol.session import Session
from quantize.blob import read_header
from quantize.memory_model import PEAK_TOLERANCE, predicted_peak_sram
from quantize.tflite_model import parse_tflite
from quantize.training_plan import parse_plan
from tests import model_zoo, training_zoo




def test_mbv2_sparse_plan_trains_within_128_kb(tmp_path):
    """Issue 13 item 3: the sparse plan's training step within 128 KB of SRAM (the memory model's
    figure; the device's own measurement is held to 128 KB below), with at least 32 KB trainable."""
    host = host_model("mbv2-w0.35-128", "sparse")
    header = read_header(host.blob)
    assert header["trainable_size"] >= 32 * 1024
    assert predicted_peak_sram("qemu-m7", header["arena_size"], header["trainable_size"]) <= 128 * 1024


def _measured_peak(board: str, model: HostModel) -> int:
    elf = build_with_model(board, model.tflite, model.name, model.origin, plan=model.plan).elf
    graph = parse_tflite(model.tflite)
    entry = graph.tensor(graph.int8_input)
    x = np.random.default_rng(0).integers(-128, 128, entry.shape[1:], dtype=np.int8)
    with Emulator(board, elf) as emulator:
        link = emulator.connect()
        read_banner(link)
        with Session(link, url=emulator.url) as device:
            for _ in range(2):
                device.train(x, 0)
            return device.info().peak_sram_last_step


def _zoo_model(name: str) -> HostModel:
    case = next(c for c in training_zoo.cases() if c.name == name)
    tflite = model_zoo.convert(case.model)
    plan = parse_plan(training_zoo.plan_json(case, parse_tflite(tflite)), name)
    return HostModel(name[:16], tflite, "tests/training_zoo.py", plan)


@pytest.mark.emulator
@pytest.mark.slow
@pytest.mark.parametrize("board, model", [
    ("qemu-m7", "ref:demo"), ("qemu-m7", "ref:head"), ("qemu-stm32f405", "ref:demo"),
    ("qemu-m7", "t14_two_k3s2"), ("qemu-m7", "t21_dense_from_4d"), ("qemu-m7", "mbv2-w0.35-128:sparse"),
    ("qemu-stm32f405", "mbv2-w0.35-128:sparse"), ("qemu-m7", "mbv2-w0.35-128:sparse-gf2"), ("qemu-m7", "ref:demo-gf2"),
])
def test_device_peak_sram_agrees_with_the_memory_model(board, model):
    host = host_model(*model.split(":")) if ":" in model else _zoo_model(model)
    header = read_header(host.blob)
    predicted = predicted_peak_sram(board, header["arena_size"], header["trainable_size"])
    measured = _measured_peak(board, host)
    assert abs(measured - predicted) <= PEAK_TOLERANCE, f"{model} on {board}: device {measured}, predicted {predicted}"
    if model.startswith("mbv2-w0.35-128:sparse"):  # issue 13 item 3, as the device measures it
        assert measured <= 128 * 1024, f"{model} on {board}: {measured} bytes of SRAM a step, over 128 KB"


def test_a_plan_over_the_boards_budget_is_refused_at_build_time_naming_the_parts(tmp_path):
    from host_tools import project
    from quantize.errors import PlanError

    case = training_zoo.TrainingCase(model_zoo.ZooModel(
        "big_conv", (96, 96, 3), lambda keras: model_zoo._seq(
            keras, (96, 96, 3), keras.layers.Conv2D(16, 3, padding="same", activation="relu",
                                                    bias_initializer="random_normal"),
            keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(4, bias_initializer="random_normal")),
        ()), ((1, True, True), (2, True, True)))
    tflite = model_zoo.convert(case.model)
    plan = parse_plan(training_zoo.plan_json(case, parse_tflite(tflite)), "big.json")
    before = set((project.ROOT / ".pio" / "models").glob("big_conv-*"))
    with pytest.raises(PlanError, match=r"^big.json: a training step would take \d+ bytes of SRAM on qemu-stm32f405, "
                                        r"over its 196608-byte budget: arena \d+ \(peaking at .*\), trainable \d+"):
        build_with_model("qemu-stm32f405", tflite, "big_conv", "test", plan=plan)
    assert set((project.ROOT / ".pio" / "models").glob("big_conv-*")) == before  # nothing written
