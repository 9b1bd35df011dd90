"""`--plan`: the training plan names the layers whose parameters the device may update, which of
their output channels, and the update's hyper-parameters; the blob carries the planned tensors,
int8 and together, as its trainable region (quantize/training_plan.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from quantize import blob as fmt
from quantize.errors import PlanError
from quantize.lower import lower_tflite
from quantize.models import load_reference_model
from quantize.tflite_model import parse_tflite
from quantize.training_plan import (
    CONSTANT,
    DEFAULT_LR,
    LrSchedule,
    PlannedLayer,
    TrainingPlan,
    available_plans,
    check_plan,
    head_plan,
    parse_plan,
    resolve_plan,
)

# ref's operators (quantize/models/ref.py): 19 is the 1x1 CONV_2D 128 -> 48, 22 the classifier.
PROJECTION, HEAD = 19, 22


@pytest.fixture(scope="module")
def ref_tflite() -> bytes:
    return load_reference_model("ref").tflite_bytes()


def _plan(*layers: dict) -> str:
    return json.dumps({"version": 1, "trainable": list(layers)})


def _plan2(*layers: dict, **fields) -> str:
    return json.dumps({"version": 2, **fields, "trainable": list(layers)})


def _region(blob: bytes) -> bytes:
    header = fmt.read_header(blob)
    start = header["data_offset"] + header["trainable_offset"]
    return blob[start:start + header["trainable_size"]]


def test_planned_weights_and_biases_are_the_trainable_region_int8(ref_tflite):
    graph = parse_tflite(ref_tflite)
    plan = parse_plan(_plan({"op": PROJECTION, "weights": True, "bias": True}, {"op": HEAD, "bias": True}), "p.json")
    blob = lower_tflite(ref_tflite, "ref", plan=plan).blob
    op = graph.operators[PROJECTION]
    weights, bias = graph.tensor(op.inputs[1]).data, graph.tensor(op.inputs[2]).data
    head_bias = graph.tensor(graph.operators[HEAD].inputs[2]).data
    expected = weights.tobytes() + bias.astype("<i4").tobytes() + head_bias.astype("<i4").tobytes()
    assert _region(blob) == expected  # in plan order, int8 weights (not packed), 4-aligned int32
    # Without a plan: the classifier head, weights then bias.
    default = lower_tflite(ref_tflite, "ref").blob
    head = graph.operators[HEAD]
    assert _region(default) == (graph.tensor(head.inputs[1]).data.tobytes()
                                + graph.tensor(head.inputs[2]).data.astype("<i4").tobytes())
    assert head_plan(graph).layers[0].op == HEAD


@pytest.mark.parametrize("text, message", [
    ("{", "p.json: not JSON"),
    ('{"version": 3, "trainable": []}', "p.json: version: expected 1 or 2, got 3"),
    ('{"version": 1}', "p.json: trainable: expected a list"),
    ('{"version": 1, "trainable": [], "lr": 0.1}', "p.json: unknown field 'lr'"),
    (_plan({"op": "conv"}), r'p.json: trainable\[0\].op: expected a TFLite operator index, got "conv"'),
    (_plan({"op": 3, "bias": 1}), r"p.json: trainable\[0\].bias: expected true or false, got 1"),
    (_plan({"op": 3}), r"p.json: trainable\[0\]: neither 'weights' nor 'bias' is true"),
    (_plan({"op": 3, "bias": True}, {"op": 3, "weights": True}), r"trainable\[1\].op: operator 3 is listed twice"),
    (_plan({"op": 3, "channels": 0.5, "bias": True}), r"trainable\[0\]: unknown field 'channels' in a version 1 plan"),
])
def test_malformed_plan_is_refused_naming_the_field(text, message):
    with pytest.raises(PlanError, match=message):
        parse_plan(text, "p.json")


def test_version_1_loads_as_version_2_with_the_defaults():
    plan = parse_plan(_plan({"op": HEAD, "weights": True, "bias": True}, {"op": 20, "bias": True}), "p.json")
    assert plan == TrainingPlan((PlannedLayer(HEAD, True, True), PlannedLayer(20, False, True)), "p.json")
    assert (plan.lr, plan.lr_schedule, plan.qas, plan.epochs) == (DEFAULT_LR, CONSTANT, True, None)
    assert all(layer.channels == 1.0 for layer in plan.layers)


def test_version_2_round_trips_through_its_json():
    text = _plan2({"op": HEAD, "weights": True, "bias": True},
                  {"op": 20, "weights": True, "channels": "1/2"},
                  {"op": PROJECTION, "bias": True, "channels": [0, 5, 47]},
                  {"op": 18, "weights": True, "channels": 0.125},
                  name="mine", description="a test plan", lr=0.05, lr_schedule={"cosine": 300}, qas=False, epochs=3)
    plan = parse_plan(text, "p.json")
    assert (plan.name, plan.description, plan.lr, plan.qas, plan.epochs) == ("mine", "a test plan", 0.05, False, 3)
    assert plan.lr_schedule == LrSchedule("cosine", 300)
    assert [layer.channels for layer in plan.layers] == [1.0, 0.5, (0, 5, 47), 0.125]
    assert plan.layer(20) == PlannedLayer(20, True, False, 0.5) and plan.layer(9) is None
    again = parse_plan(plan.to_json(), "p.json")
    assert again == plan
    assert json.loads(plan.to_json())["trainable"][3] == {"op": 18, "weights": True, "bias": False, "channels": "1/8"}


@pytest.mark.parametrize("fields, layer, message", [
    ({}, {"op": 3, "bias": True, "channels": "1/3"},
     r'p.json: trainable\[0\].channels: expected 1, 1/2, 1/4, 1/8 or a list of channel indices, got "1/3"$'),
    ({}, {"op": 3, "bias": True, "channels": 0.3}, r"trainable\[0\].channels: expected 1, 1/2, .* got 0.3$"),
    ({}, {"op": 3, "bias": True, "channels": True}, r"trainable\[0\].channels: expected .* got true$"),
    ({}, {"op": 3, "bias": True, "channels": []}, r"trainable\[0\].channels: expected .* got \[\]$"),
    ({}, {"op": 3, "bias": True, "channels": [0, -1]}, r"trainable\[0\].channels: expected .* got \[0, -1\]$"),
    ({}, {"op": 3, "bias": True, "channels": [0, 1.5]}, r"trainable\[0\].channels: expected .* got \[0, 1.5\]$"),
    ({}, {"op": 3, "bias": True, "channels": [4, 2]},
     r"trainable\[0\].channels: channel indices must be sorted and unique, got \[4, 2\]$"),
    ({}, {"op": 3, "bias": True, "channels": [2, 2]}, r"channel indices must be sorted and unique, got \[2, 2\]$"),
    ({}, {"op": 3, "bias": True, "ratio": 0.5}, r"trainable\[0\]: unknown field 'ratio' in a version 2 plan"),
    ({}, {"op": 3, "weights": "yes"}, r'trainable\[0\].weights: expected true or false, got "yes"$'),
    ({"lr": 0}, {"op": 3, "bias": True}, r"^p.json: lr: expected a number in \(0, 1\], got 0$"),
    ({"lr": 1.5}, {"op": 3, "bias": True}, r"^p.json: lr: expected a number in \(0, 1\], got 1.5$"),
    ({"lr": "0.1"}, {"op": 3, "bias": True}, r'^p.json: lr: expected a number in \(0, 1\], got "0.1"$'),
    ({"lr": True}, {"op": 3, "bias": True}, r"^p.json: lr: expected a number in \(0, 1\], got true$"),
    ({"lr_schedule": "linear"}, {"op": 3, "bias": True},
     r'^p.json: lr_schedule: expected "constant" or \{"cosine": STEPS\}, got "linear"$'),
    ({"lr_schedule": {"cosine": 10, "warmup": 2}}, {"op": 3, "bias": True}, r"^p.json: lr_schedule: expected"),
    ({"lr_schedule": {"cosine": 0}}, {"op": 3, "bias": True},
     r"^p.json: lr_schedule.cosine: expected a positive number of steps, got 0$"),
    ({"lr_schedule": {"cosine": 2.5}}, {"op": 3, "bias": True}, r"^p.json: lr_schedule.cosine: expected .* got 2.5$"),
    ({"qas": "yes"}, {"op": 3, "bias": True}, r'^p.json: qas: expected true or false, got "yes"$'),
    ({"epochs": 0}, {"op": 3, "bias": True}, r"^p.json: epochs: expected a positive integer, got 0$"),
    ({"epochs": 1.5}, {"op": 3, "bias": True}, r"^p.json: epochs: expected a positive integer, got 1.5$"),
    ({"name": 3}, {"op": 3, "bias": True}, r"^p.json: name: expected a string, got 3$"),
    ({"description": ["x"]}, {"op": 3, "bias": True}, r'^p.json: description: expected a string, got \["x"\]$'),
    ({"momentum": 0.9}, {"op": 3, "bias": True}, r"^p.json: unknown field 'momentum' in a version 2 plan"),
    ({}, {"op": 3, "weights": True, "gradient_filter": 3},
     r"^p.json: trainable\[0\].gradient_filter: expected 1, 2, 4, got 3$"),
    ({}, {"op": 3, "weights": True, "gradient_filter": "2"},
     r'^p.json: trainable\[0\].gradient_filter: expected 1, 2, 4, got "2"$'),
])
def test_every_bad_version_2_field_is_refused_in_one_line_naming_it(fields, layer, message):
    with pytest.raises(PlanError, match=message) as refused:
        parse_plan(_plan2(layer, **fields), "p.json")
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("channels, out_channels, expected", [
    (1.0, 10, tuple(range(10))),
    (0.5, 10, tuple(range(5))),
    (0.25, 10, (0, 1, 2)),      # ceil(2.5)
    (0.125, 10, (0, 1)),        # ceil(1.25)
    (0.125, 48, tuple(range(6))),
    (0.125, 8, (0,)),
    ((0, 7, 9), 10, (0, 7, 9)),
])
def test_channel_indices_of_ratios_and_lists(channels, out_channels, expected):
    assert PlannedLayer(3, True, False, channels).channel_indices(out_channels) == expected


def test_channel_indices_refuse_what_the_operator_does_not_have():
    listed = parse_plan(_plan2({"op": 3, "bias": True, "channels": [0, 10]}), "p.json").layers[0]
    with pytest.raises(PlanError, match=r"^p.json: trainable\[0\].channels: channel 10 is out of range: "
                                        r"operator 3 has 10 output channels$"):
        listed.channel_indices(10)
    eighth = parse_plan(_plan2({"op": 3, "bias": True, "channels": "1/8"}), "p.json").layers[0]
    with pytest.raises(PlanError, match=r"^p.json: trainable\[0\].channels: 1/8 of 4 output channels is less than "
                                        r"one channel \(operator 3\)$"):
        eighth.channel_indices(4)


def test_lr_at_is_the_float32_of_the_documented_formula():
    constant = TrainingPlan((), lr=0.01)
    assert {constant.lr_at(step) for step in (0, 1, 10**6)} == {float(np.float32(0.01))}
    cosine = TrainingPlan((), lr=0.1, lr_schedule=LrSchedule("cosine", 100))
    rates = [cosine.lr_at(step) for step in range(102)]
    assert rates[0] == float(np.float32(0.1)) and rates[50] == float(np.float32(0.05))
    assert rates[100] == rates[101] == 0.0
    assert all(a > b for a, b in zip(rates[:101], rates[1:101]))  # strictly decreasing to 0
    assert rates[30] == float(np.float32(0.5 * 0.1 * (1.0 + np.cos(np.pi * 30 / 100))))
    assert all(rate == float(np.float32(rate)) for rate in rates)  # what SET_CONFIG's float32 carries
    with pytest.raises(ValueError):
        cosine.lr_at(-1)


def test_a_plan_is_found_by_name_beside_its_model_or_by_path(tmp_path, monkeypatch):
    demo = resolve_plan("demo", "ref")
    assert [layer.op for layer in demo.layers] == [HEAD, 20, PROJECTION]
    assert all(layer.weights and layer.bias and layer.channels == 1.0 for layer in demo.layers)
    assert (demo.lr, demo.lr_schedule, demo.qas, demo.epochs, demo.name) == (0.05, LrSchedule("cosine", 8000), True, 2,
                                                                             "demo")
    assert demo.source.endswith("quantize/models/ref/plans/demo.json")
    assert available_plans("ref") == ("demo", "demo-gf2", "demo-gf4", "head")
    assert available_plans("mbv2-w0.35-128") == ("head", "sparse", "sparse-gf2")
    path = tmp_path / "demo"  # an existing file is a path, even when a plan has that name
    path.write_text(_plan2({"op": 20, "bias": True}))
    assert resolve_plan(str(path), "ref").layers == (PlannedLayer(20, False, True),)
    monkeypatch.chdir(tmp_path)
    assert resolve_plan("demo", "ref").layers == (PlannedLayer(20, False, True),)


def test_an_unknown_plan_name_lists_the_models_plans():
    with pytest.raises(PlanError, match=r"^training plan 'dmeo': no such file, and model ref has no plan of that "
                                        r"name \(its plans: demo, demo-gf2, demo-gf4, head\)$"):
        resolve_plan("dmeo", "ref")
    with pytest.raises(PlanError, match=r"model my_model has no plan of that name \(it has no committed plans\)$"):
        resolve_plan("demo", "my_model")


def test_gradient_filter_is_refused_where_patches_cannot_pair_input_and_output():
    graph = parse_tflite(load_reference_model("ref").tflite_bytes())
    resized = next(op for op in graph.operators if op.op in ("CONV_2D", "DEPTHWISE_CONV_2D") and
                   graph.tensor(op.inputs[0]).shape[1:3] != graph.tensor(op.outputs[0]).shape[1:3])
    with pytest.raises(PlanError, match=r"^p.json: operator 22 \(FULLY_CONNECTED\): gradient_filter applies to "
                                        r"CONV_2D and DEPTHWISE_CONV_2D only$"):
        check_plan(parse_plan(_plan2({"op": 22, "weights": True, "gradient_filter": 2}), "p.json"), graph, set())
    with pytest.raises(PlanError, match=rf"^p.json: operator {resized.index} \({resized.op}\): gradient_filter needs the output's "
                                        r"height and width to be the input's \(stride 1, SAME padding\), got "
                                        r"\d+x\d+ -> \d+x\d+$"):
        check_plan(parse_plan(_plan2({"op": resized.index, "weights": True, "gradient_filter": 2}), "p.json"), graph,
                   set())


@pytest.mark.parametrize("name, refusal", [("t50_conv_dilated", r"CONV_2D\): gradient_filter is not implemented with "
                                                                r"dilation 2x2"),
                                           ("t51_dw_multiplier2", r"DEPTHWISE_CONV_2D\): gradient_filter is not "
                                                                  r"implemented with depth multiplier 2")])
def test_gradient_filter_is_refused_with_dilation_or_a_depth_multiplier(name, refusal):
    from tests import model_zoo, training_zoo

    case = next(c for c in training_zoo.cases() if c.name == name)
    graph = parse_tflite(model_zoo.convert(case.model))  # operator 1 keeps its input's height and width
    with pytest.raises(PlanError, match=rf"^p.json: operator 1 \({refusal}$"):
        check_plan(parse_plan(_plan2({"op": 1, "weights": True, "gradient_filter": 2}), "p.json"), graph, set())


@pytest.mark.parametrize("model", ["ref", "mbv2-w0.35-128"])
def test_committed_plans_fit_their_model(model):
    graph = parse_tflite(load_reference_model(model).tflite_bytes())
    for name in available_plans(model):
        plan = resolve_plan(name, model)
        check_plan(plan, graph, set())
        assert plan.name == name
    assert resolve_plan("head", model).layers == head_plan(graph).layers


def test_a_channel_the_operator_lacks_is_refused_when_lowering(ref_tflite):
    plan = parse_plan(_plan2({"op": PROJECTION, "bias": True, "channels": [0, 48]}), "p.json")
    with pytest.raises(PlanError, match=r"p.json: trainable\[0\].channels: channel 48 is out of range: "
                                        r"operator 19 has 48 output channels"):
        lower_tflite(ref_tflite, "ref", plan=plan)


@pytest.mark.parametrize("layer, message", [
    ({"op": 99, "bias": True}, "p.json: operator 99: the model has 23 operators"),
    ({"op": 9, "bias": True}, "p.json: operator 9 is ADD, which has no parameters"),
])
def test_plan_that_does_not_fit_the_model_is_refused(ref_tflite, layer, message):
    with pytest.raises(PlanError, match=message):
        lower_tflite(ref_tflite, "ref", plan=parse_plan(_plan(layer), "p.json"))


@pytest.mark.parametrize("op", [
    2,  # the first block's projection, in the stem's row chain (operators 0..5)
    8,  # the second block's projection (an inverted-residual block with its ADD)
])
def test_plan_naming_a_layer_of_a_row_streamed_block_is_refused(ref_tflite, op):
    plan = parse_plan(_plan({"op": op, "bias": True}), "p.json")
    with pytest.raises(PlanError, match=f"operator {op} .* runs inside a row-streamed inverted-residual block or row "
                                        "chain"):
        lower_tflite(ref_tflite, "ref", stream="all", plan=plan)


@pytest.mark.emulator
@pytest.mark.slow
def test_device_computes_the_same_forward_from_the_sram_copy(ref_tflite, firmware):
    from host_tools.model_runner import ModelRunner, runner_flags

    elf = firmware.get("qemu-m7", *runner_flags("qemu-m7")).elf
    plan = parse_plan(_plan({"op": PROJECTION, "weights": True, "bias": True}, {"op": HEAD, "weights": True}), "p")
    x = np.random.default_rng(3).integers(-128, 128, 784, dtype=np.int8)
    outputs = []
    for blob in (lower_tflite(ref_tflite, "ref").blob, lower_tflite(ref_tflite, "ref", plan=plan).blob):
        with ModelRunner("qemu-m7", elf, blob) as runner:
            outputs.append(runner.invoke(x).output)
    assert np.array_equal(outputs[0], outputs[1])


def test_compile_with_a_bad_plan_writes_nothing_and_says_why_in_one_line(tmp_path):
    import subprocess
    import sys

    from host_tools import project

    plan = tmp_path / "plan.json"
    plan.write_text(_plan({"op": 9, "bias": True}))
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "host_tools.cli", "compile", "ref", "-o", str(out), "--plan",
                          str(plan)], capture_output=True, text=True, cwd=project.ROOT)
    assert run.returncode == 1 and not out.exists()
    assert run.stderr.strip().splitlines() == [f"mcutrain: error: {plan}: operator 9 is ADD, which has no parameters "
                                               "(expected one of CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED)"]
