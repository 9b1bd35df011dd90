"""`mcutrain report cost`: the per-layer traffic of a training step (quantize/planning/traffic.py),
the energy model (quantize/planning/energy.py) and the command (host_tools/commands/report.py)."""

from __future__ import annotations

import json

import pytest

from host_tools.protocol.device import host_model
from quantize.errors import QuantizeError
from quantize.planning.energy import (BOARD_POWER, CYCLES_PER_INSTRUCTION, HOROWITZ_45NM, energy_of,
                                      estimate_step_energy)
from quantize.planning.traffic import (KEPT_INPUT, KEPT_MASK, KEPT_PATCH_MEANS, Traffic, compile_step,
                                       unfiltered_plan)


@pytest.fixture(scope="module")
def ref_demo():
    model = host_model("ref", "demo")
    return model, compile_step(model.tflite, model.name, model.training_plan)


@pytest.fixture(scope="module")
def ref_demo_gf2():
    model = host_model("ref", "demo-gf2")
    return model, compile_step(model.tflite, model.name, model.training_plan)


# -- energy ------------------------------------------------------------------------------------

def test_core_energy_is_instructions_times_the_datasheet_current_voltage_over_the_clock():
    power = BOARD_POWER["qemu-m7"]
    estimate = energy_of("qemu-m7", 1_000_000, Traffic())
    assert estimate.core_uj == pytest.approx(1e6 * CYCLES_PER_INSTRUCTION * power.run_current_a * power.supply_v
                                             / power.clock_hz * 1e6)
    assert estimate.memory_uj == 0 and estimate.total_uj == estimate.core_uj
    assert estimate.real_board == "STM32F746 (Cortex-M7) at 216 MHz"


def test_memory_energy_prices_each_kind_of_traffic_at_its_own_figure():
    estimate = energy_of("qemu-stm32f405", 0, Traffic(flash_read=8, sram_read=16, sram_write=24))
    assert estimate.flash_read_uj == pytest.approx(8 * HOROWITZ_45NM.flash_read_pj_per_byte * 1e-6)
    assert estimate.sram_read_uj == pytest.approx(16 * HOROWITZ_45NM.sram_read_pj_per_byte * 1e-6)
    assert estimate.sram_write_uj == pytest.approx(24 * HOROWITZ_45NM.sram_write_pj_per_byte * 1e-6)
    assert estimate.total_uj == pytest.approx(estimate.memory_uj)
    assert "STM32F405" in estimate.real_board


def test_step_energy_rises_with_the_instructions_and_names_its_sources(ref_demo):
    model, _ = ref_demo
    low = estimate_step_energy("qemu-m7", model.tflite, model.name, model.training_plan, 5_000_000)
    high = estimate_step_energy("qemu-m7", model.tflite, model.name, model.training_plan, 10_000_000)
    assert high.total_uj > low.total_uj and high.core_uj == pytest.approx(2 * low.core_uj)
    assert high.memory_uj == low.memory_uj > 0  # the same plan moves the same bytes
    assert any("DS10916" in s for s in high.sources) and any("Horowitz" in s for s in high.sources)
    assert any("cycle per instruction" in s for s in high.sources)
    assert set(high.to_json()) >= {"total_uj", "core_uj", "memory_uj", "real_board", "sources"}


def test_no_plan_is_the_default_head_plan(ref_demo):
    model, _ = ref_demo
    head = host_model("ref", "head").training_plan
    assert estimate_step_energy("qemu-m7", model.tflite, model.name, None, 1000) == estimate_step_energy(
        "qemu-m7", model.tflite, model.name, head, 1000)


def test_the_f405_costs_its_own_figures():
    f405 = energy_of("qemu-stm32f405", 1_000_000, Traffic())
    f746 = energy_of("stm32f746g-disco", 1_000_000, Traffic())
    assert f405.core_uj != f746.core_uj and any("DS8626" in s for s in f405.sources)


def test_an_unknown_board_fails_in_one_line_naming_the_known_ones():
    with pytest.raises(QuantizeError, match=r"board 'esp32'.*qemu-m7, stm32f746g-disco, qemu-stm32f405"):
        energy_of("esp32", 1, Traffic())


# -- traffic -----------------------------------------------------------------------------------

def _independent_input_bytes(graph, op_index: int, r: int = 1) -> int:
    """The int8 input of a 4-D convolution, or its r x r patch means: N * ceil(H/r) * ceil(W/r) * C."""
    n, h, w, c = graph.tensor(graph.operators[op_index].inputs[0]).shape
    return n * -(-h // r) * -(-w // r) * c


def test_ref_demo_keeps_the_inputs_of_its_trained_convolutions(ref_demo):
    _, step = ref_demo
    inputs = {k.op: k.bytes for k in step.traffic.kept if k.kind == KEPT_INPUT}
    # bench train's figure for ref demo's last_conv (op 20) and b6_project (op 19): 2,352 + 6,272
    assert inputs[20] + inputs[19] == 8624
    assert inputs[20] == _independent_input_bytes(step.graph, 20) == 7 * 7 * 48
    assert inputs[19] == _independent_input_bytes(step.graph, 19) == 7 * 7 * 128


def test_gradient_filtering_r2_keeps_the_patch_means_instead(ref_demo, ref_demo_gf2):
    _, plain = ref_demo
    _, filtered = ref_demo_gf2
    means = {k.op: k.bytes for k in filtered.traffic.kept if k.kind == KEPT_PATCH_MEANS}
    inputs = {k.op: k.bytes for k in plain.traffic.kept if k.kind == KEPT_INPUT}
    for op in (19, 20):  # 7x7 inputs: 4x4 clipped patches of 2x2, 49/16 times fewer bytes
        assert means[op] == _independent_input_bytes(filtered.graph, op, 2) == inputs[op] * 16 // 49
    assert filtered.traffic.total("kept_bytes") < plain.traffic.total("kept_bytes")
    assert filtered.traffic.total("backward_macs") < plain.traffic.total("backward_macs")


def test_kept_tensors_live_from_their_writer_to_their_last_backward_read(ref_demo):
    _, step = ref_demo
    t = step.traffic
    for kept in t.kept:
        assert -1 <= kept.written < t.forward_ops <= kept.last_read
        assert kept.byte_ops == kept.bytes * (kept.last_read - kept.written)
    mask = next(k for k in t.kept if k.kind == KEPT_MASK and k.op == 20)  # last_conv's ReLU6
    assert mask.bytes == -(-7 * 7 * 128 // 8)


def test_totals_are_the_sums_of_the_layers(ref_demo):
    _, step = ref_demo
    t = step.traffic
    assert t.traffic == sum((layer.forward + layer.backward for layer in t.layers), Traffic())
    assert t.total("kept_bytes") == sum(k.bytes for k in t.kept)
    # backward MACs are cost.backward_macs per step, as bench train reports them
    from quantize.planning.cost import backward_macs

    assert t.total("backward_macs") == sum(sum(backward_macs(step.graph, s)) for s in step.program.steps)


def test_trained_parameters_are_read_from_sram_and_the_rest_from_flash(ref_demo):
    model, step = ref_demo
    layers = {layer.op: layer for layer in step.traffic.layers}
    head = layers[22]  # FULLY_CONNECTED, trained: its weights and bias come from the SRAM copy
    weights = step.graph.tensor(step.graph.operators[22].inputs[1]).data.nbytes
    assert head.forward.flash_read < weights <= head.forward.sram_read
    frozen = layers[0]  # the first convolution is not trained: its filter is read from flash
    assert frozen.forward.flash_read >= step.graph.tensor(step.graph.operators[0].inputs[1]).data.nbytes


def test_unfiltered_plan_sets_every_filter_to_one():
    plan = host_model("ref", "demo-gf4").training_plan
    assert {layer.gradient_filter for layer in plan.layers} == {1, 4}
    assert {layer.gradient_filter for layer in unfiltered_plan(plan).layers} == {1}


def test_the_layers_predicted_instructions_add_up_to_the_cost_model(ref_demo):
    from quantize.planning.cost import predicted_step_cost

    _, step = ref_demo
    predicted = predicted_step_cost(step.lowered, step.graph, step.program)
    t = step.traffic
    assert round(t.total("predicted_forward_instructions")) == pytest.approx(predicted.forward, abs=1)
    assert round(t.total("predicted_backward_instructions")) == pytest.approx(predicted.backward + predicted.update,
                                                                              abs=1)


# -- the command -------------------------------------------------------------------------------

def _report(capsys, *args: str) -> dict:
    from host_tools.cli import main

    assert main(["report", "cost", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("model, plan", [("ref", "demo-gf2"), ("mbv2-w0.35-128", "sparse-gf2")])
def test_predicted_report_adds_up_and_names_its_sources(capsys, model, plan):
    report = _report(capsys, "--model", model, "--plan", plan, "--predicted")
    assert not report["measured"] and "predicted by the cost model" in report["instructions_from"]
    layers, totals = report["layers"], report["totals"]
    for key in ("forward_macs", "backward_macs", "flash_read_bytes", "sram_read_bytes", "sram_write_bytes",
                "kept_bytes", "kept_byte_ops"):
        assert totals[key] == sum(layer[key] for layer in layers), key
    assert totals["kept_bytes"] == sum(k["bytes"] for k in report["kept"])
    assert totals["instructions"] == sum(layer["instructions"] for layer in layers) + report["loss_and_overhead"][
        "instructions"]
    assert sum(totals["instructions_split"].values()) == pytest.approx(totals["instructions"], abs=len(layers))
    energy = report["energy"]
    assert energy["total_uj"] == pytest.approx(energy["core_uj"] + energy["memory_uj"], abs=1e-2)
    assert energy["total_uj"] == pytest.approx(sum(layer["energy_uj"] for layer in layers)
                                               + report["loss_and_overhead"]["energy_uj"], rel=1e-4)
    assert energy["real_board"].startswith("STM32F746") and len(energy["sources"]) == 3
    savings = report["savings"]
    assert savings["full_update"]["kept_bytes"] > savings["this_plan"]["kept_bytes"]
    assert not savings["full_update"]["fits"] and savings["full_update"]["over_budget_bytes"] > 0
    unfiltered = savings["without_gradient_filter"]
    assert unfiltered["backward_macs"] > savings["this_plan"]["backward_macs"]
    assert unfiltered["kept_bytes"] > savings["this_plan"]["kept_bytes"]


def test_predicted_table_on_the_stm32f405_says_where_memory_and_energy_go(capsys):
    from host_tools.cli import main

    assert main(["report", "cost", "--model", "ref", "--plan", "demo", "--board", "qemu-stm32f405",
                 "--predicted"]) == 0
    out = capsys.readouterr().out
    assert "STM32F405 (Cortex-M4) at 168 MHz" in out and "DS8626" in out and "Horowitz" in out
    assert "the plan filters no gradients" in out
    assert "the largest is the input of op 19 (CONV_2D), tensor 60: 6,272 B" in out
    assert "the layer with the most energy is op" in out


@pytest.mark.parametrize("args, message", [
    (["--model", "nosuch", "--plan", "demo", "--predicted"], "unknown model 'nosuch'"),
    (["--model", "ref", "--plan", "nosuch", "--predicted"], "training plan 'nosuch'"),
    (["--model", "ref", "--plan", "demo", "--board", "esp32", "--predicted"], "unknown board 'esp32'"),
    (["--model", "ref", "--plan", "demo", "--board", "native", "--predicted"],
     "board 'native': the energy model has figures"),
    (["--model", "ref", "--plan", "demo", "--board", "stm32f746g-disco"], "no emulator to measure on"),
])
def test_bad_input_fails_in_one_line(capsys, args, message):
    from host_tools.cli import main

    assert main(["report", "cost", *args]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


@pytest.mark.emulator
def test_measured_report_of_ref_demo_on_qemu_m7(capsys):
    report = _report(capsys, "--model", "ref", "--plan", "demo")
    assert report["measured"] and "measured on qemu-m7" in report["instructions_from"]
    assert abs(report["measured_peak_sram_bytes"] - report["savings"]["this_plan"]["peak_sram_bytes"]) <= 2048
    assert report["totals"]["kept_bytes"] == 8624 + 784 + 128 + 10  # inputs of 20 and 19, 20's mask, head, logits
    layers = {layer["op"]: layer for layer in report["layers"]}
    assert all(layers[op]["instructions"] > 0 for op in (19, 20, 21, 22))
    # Every row from the runner's one run: the layers and the loss add up to the step; the product
    # firmware's TRAIN (another build, with the sample's transfer) is beside it, within 1%.
    loss = report["loss_and_overhead"]["instructions"]
    assert 0 < loss < 0.01 * report["totals"]["instructions"]
    assert report["totals"]["instructions"] == sum(layer["instructions"] for layer in report["layers"]) + loss
    assert report["product_train_instructions"] == pytest.approx(report["totals"]["instructions"], rel=0.01)
    assert report["energy"]["instructions"] == report["totals"]["instructions"] > 1_000_000


def test_an_input_three_weight_layers_read_is_kept_once_until_its_last_read():
    from quantize.planning.traffic import KeptTensor, LayerTraffic, merge_shared_inputs

    layers = [LayerTraffic(op, "CONV_2D", kept=[KeptTensor(KEPT_INPUT, op, 7, 100, 2, read)])
              for op, read in ((5, 30), (9, 26), (6, 29))]
    layers[1].kept.append(KeptTensor(KEPT_MASK, 9, 12, 4, 9, 26))
    merge_shared_inputs(layers)
    kept = [k for layer in layers for k in layer.kept if k.kind == KEPT_INPUT]
    assert kept == [KeptTensor(KEPT_INPUT, 9, 7, 100, 2, 30)]  # in op 9's layer, the first backward reader
    assert [k.kind for k in layers[1].kept] == [KEPT_INPUT, KEPT_MASK]
