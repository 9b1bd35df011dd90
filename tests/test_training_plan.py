"""`--plan`: the training plan names the layers whose parameters the device may update; the blob
carries them, int8 and together, as its trainable region (quantize/training_plan.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from quantize import blob as fmt
from quantize.errors import PlanError
from quantize.lower import lower_tflite
from quantize.models import load_reference_model
from quantize.tflite_model import parse_tflite
from quantize.training_plan import head_plan, parse_plan

# ref's operators (quantize/models/ref.py): 19 is the 1x1 CONV_2D 128 -> 48, 22 the classifier.
PROJECTION, HEAD = 19, 22


@pytest.fixture(scope="module")
def ref_tflite() -> bytes:
    return load_reference_model("ref").tflite_bytes()


def _plan(*layers: dict) -> str:
    return json.dumps({"version": 1, "trainable": list(layers)})


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
    ('{"version": 2, "trainable": []}', "p.json: version: expected 1, got 2"),
    ('{"version": 1}', "p.json: trainable: expected a list"),
    ('{"version": 1, "trainable": [], "lr": 0.1}', "p.json: unknown field 'lr'"),
    (_plan({"op": "conv"}), r"p.json: trainable\[0\].op: expected a TFLite operator index, got 'conv'"),
    (_plan({"op": 3, "bias": 1}), r"p.json: trainable\[0\].bias: expected true or false, got 1"),
    (_plan({"op": 3}), r"p.json: trainable\[0\]: neither 'weights' nor 'bias' is true"),
    (_plan({"op": 3, "bias": True}, {"op": 3, "weights": True}), r"trainable\[1\].op: operator 3 is listed twice"),
    (_plan({"op": 3, "channels": 0.5, "bias": True}), r"trainable\[0\]: unknown field 'channels'"),
])
def test_malformed_plan_is_refused_naming_the_field(text, message):
    with pytest.raises(PlanError, match=message):
        parse_plan(text, "p.json")


@pytest.mark.parametrize("layer, message", [
    ({"op": 99, "bias": True}, "p.json: operator 99: the model has 23 operators"),
    ({"op": 9, "bias": True}, "p.json: operator 9 is ADD, which has no parameters"),
])
def test_plan_that_does_not_fit_the_model_is_refused(ref_tflite, layer, message):
    with pytest.raises(PlanError, match=message):
        lower_tflite(ref_tflite, "ref", plan=parse_plan(_plan(layer), "p.json"))


def test_plan_naming_a_layer_of_a_row_streamed_block_is_refused(ref_tflite):
    plan = parse_plan(_plan({"op": 2, "bias": True}), "p.json")  # the first block's projection
    with pytest.raises(PlanError, match="operator 2 .* runs inside a row-streamed inverted-residual block"):
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
