"""quantize/planning/cost.py: the predicted instructions of a training step follow what a plan
asks of the device (more layers cost more, gradient filtering less, row-streaming more), and on
qemu-m7 they stay within TOLERANCE of what `mcutrain bench train` measures."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from host_tools.cli import main
from host_tools.protocol.device import host_model
from quantize.lower import lower_graph
from quantize.planning.cost import StepCost, backward_macs, predicted_step_cost
from quantize.tflite_model import parse_tflite
from quantize.training.program import derive_program
from quantize.training_plan import resolve_plan

# The constants were fitted on these plans (in-sample: within 1.4% of the measured step).
TOLERANCE = 0.05


def _lowered(model: str, plan: str, stream: str = "auto"):
    source = host_model(model, plan)
    graph = parse_tflite(source.tflite)
    training_plan = resolve_plan(plan, model)
    return lower_graph(graph, model, stream=stream, plan=training_plan), graph, derive_program(
        graph, training_plan, qas=training_plan.qas)


def _cost(model: str, plan: str, stream: str = "auto") -> StepCost:
    return predicted_step_cost(*_lowered(model, plan, stream))


def test_a_step_costs_its_parts_and_the_overhead():
    cost = _cost("ref", "demo")
    assert cost.total == cost.forward + cost.backward + cost.update + cost.overhead
    assert min(cost.forward, cost.backward, cost.update) > 0


def test_inference_only_has_no_backward_cost():
    lowered, graph, _ = _lowered("ref", "demo")
    cost = predicted_step_cost(lowered, graph, None)
    assert (cost.backward, cost.update) == (0, 0) and cost.forward > 0


@pytest.mark.parametrize("model, smaller, larger", [("ref", "head", "demo"), ("mbv2-w0.35-128", "head", "sparse")])
def test_training_more_layers_costs_more(model, smaller, larger):
    few, more = _cost(model, smaller), _cost(model, larger)
    assert more.backward + more.update > few.backward + few.update
    assert more.total > few.total


@pytest.mark.parametrize("model, plans", [("ref", ("demo", "demo-gf2", "demo-gf4")),
                                          ("mbv2-w0.35-128", ("sparse", "sparse-gf2"))])
def test_gradient_filtering_lowers_backward_and_update_cost(model, plans):
    costs = [_cost(model, plan) for plan in plans]
    backward = [cost.backward + cost.update for cost in costs]
    assert backward == sorted(backward, reverse=True) and len(set(backward)) == len(backward)


def _conv20_macs(plan: str) -> tuple[int, int]:
    _, graph, program = _lowered("ref", plan)
    return backward_macs(graph, next(step for step in program.steps if step.op == 20))


def test_backward_macs_of_a_pointwise_convolution_with_and_without_gradient_filtering():
    # ref's op 20: 1x1, 48 -> 128 channels on 7x7; weights, bias and input error.
    assert _conv20_macs("demo") == (49 * 48 * 128, 49 * 48 * 128 + 49 * 128)
    # r = 2: 4 x 4 patches; the error filtered per element, the patches' transposed terms, the bias sums.
    assert _conv20_macs("demo-gf2") == (49 * 128 + 16 * 128 * 48 + 49 * 128, 16 * 48 * 128)


def test_a_streamed_lowering_costs_more_forward_instructions():
    whole, streamed = _cost("ref", "head", "none"), _cost("ref", "head", "all")
    assert streamed.forward > whole.forward


@pytest.fixture(scope="module", params=[("ref", "demo"), ("ref", "demo-gf2"), ("mbv2-w0.35-128", "sparse")],
                ids=lambda p: "/".join(p))
def measured(request):
    model, plan = request.param
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["bench", "train", "--board", "qemu-m7", "--model", model, "--plan", plan, "--json"]) == 0
    return json.loads(out.getvalue())


@pytest.mark.emulator
@pytest.mark.slow
def test_the_prediction_is_within_tolerance_of_the_measured_step(measured):
    predicted, actual = measured["predicted_instructions_per_step"], measured["instructions_per_step"]
    assert abs(predicted - actual) <= TOLERANCE * actual, (measured["model"], measured["plan"], predicted, actual)
    assert predicted == _cost(measured["model"], measured["plan"]).total
