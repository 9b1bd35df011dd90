"""The training plan: which layers' parameters the device keeps in SRAM and may update.

`mcutrain compile --plan plan.json` and `mcutrain build --plan plan.json` read it; without one the
plan is the classifier head (the last FULLY_CONNECTED's weights and bias). The lowering places the
planned tensors together at the end of the blob's data section, the trainable region the firmware
copies to SRAM at boot, updates, checkpoints and restores (RESET_PARAMS); planned weights stay
int8, never packed (quantize/packing.py), since the device updates them.

    {"version": 1,
     "trainable": [{"op": 22, "weights": true, "bias": true},
                   {"op": 20, "bias": true}]}

`op` is the TFLite operator index (what compile's errors name); `weights` and `bias` default to
false, and at least one must be true. Only CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED have
parameters. The sparse-update search (contribution analysis under a memory budget) will write
this file; channel fractions and training hyper-parameters belong to that work.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from quantize.errors import PlanError
from quantize.ops import parametric_ops
from quantize.tflite_model import Graph

PLAN_VERSION = 1
PARAMETRIC_OPS = parametric_ops()  # the ops whose OpDef says they have parameters (quantize/ops/)


@dataclass(frozen=True)
class PlannedLayer:
    op: int        # TFLite operator index
    weights: bool
    bias: bool


@dataclass(frozen=True)
class TrainingPlan:
    layers: tuple[PlannedLayer, ...]
    source: str = "the default plan"  # where it came from, for messages

    def layer(self, op: int) -> PlannedLayer | None:
        return next((layer for layer in self.layers if layer.op == op), None)


def head_plan(graph: Graph) -> TrainingPlan:
    """The default: the last FULLY_CONNECTED's weights and bias (if it has one), or nothing when
    there is no FULLY_CONNECTED."""
    heads = [op for op in graph.operators if op.op == "FULLY_CONNECTED"]
    if not heads:
        return TrainingPlan(())
    head = heads[-1]
    return TrainingPlan((PlannedLayer(head.index, True, len(head.inputs) > 2 and head.inputs[2] >= 0),))


def _field(entry: dict, key: str, where: str) -> bool:
    value = entry.get(key, False)
    if not isinstance(value, bool):
        raise PlanError(f"{where}.{key}: expected true or false, got {value!r}")
    return value


def parse_plan(text: str, source: str) -> TrainingPlan:
    """A plan from its JSON text; errors name `source` and the field at fault."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise PlanError(f"{source}: not JSON ({err.msg} at line {err.lineno})") from None
    if not isinstance(doc, dict):
        raise PlanError(f"{source}: expected a JSON object with 'version' and 'trainable'")
    if doc.get("version") != PLAN_VERSION:
        raise PlanError(f"{source}: version: expected {PLAN_VERSION}, got {doc.get('version')!r}")
    entries = doc.get("trainable")
    if not isinstance(entries, list):
        raise PlanError(f"{source}: trainable: expected a list of layers, got {entries!r}")
    unknown = sorted(set(doc) - {"version", "trainable"})
    if unknown:
        raise PlanError(f"{source}: unknown field {unknown[0]!r} (expected 'version' and 'trainable')")
    layers = []
    for i, entry in enumerate(entries):
        where = f"{source}: trainable[{i}]"
        if not isinstance(entry, dict):
            raise PlanError(f"{where}: expected an object with 'op', 'weights', 'bias'")
        extra = sorted(set(entry) - {"op", "weights", "bias"})
        if extra:
            raise PlanError(f"{where}: unknown field {extra[0]!r} (expected 'op', 'weights', 'bias')")
        op = entry.get("op")
        if not isinstance(op, int) or isinstance(op, bool) or op < 0:
            raise PlanError(f"{where}.op: expected a TFLite operator index, got {op!r}")
        layer = PlannedLayer(op, _field(entry, "weights", where), _field(entry, "bias", where))
        if not (layer.weights or layer.bias):
            raise PlanError(f"{where}: neither 'weights' nor 'bias' is true")
        if any(other.op == op for other in layers):
            raise PlanError(f"{where}.op: operator {op} is listed twice")
        layers.append(layer)
    return TrainingPlan(tuple(layers), source)


def load_plan(path: Path) -> TrainingPlan:
    try:
        text = Path(path).read_text()
    except OSError as err:
        raise PlanError(f"{path}: cannot read the training plan ({err.strerror})") from None
    return parse_plan(text, str(path))


def check_plan(plan: TrainingPlan, graph: Graph, streamed_ops: set[int]) -> None:
    """Refuses a plan that names what the model does not have, or a layer the device runs inside
    a row-streamed block (its kernels read the flash copy of the parameters)."""
    for layer in plan.layers:
        where = f"{plan.source}: operator {layer.op}"
        if layer.op >= len(graph.operators):
            raise PlanError(f"{where}: the model has {len(graph.operators)} operators")
        op = graph.operators[layer.op]
        if op.op not in PARAMETRIC_OPS:
            raise PlanError(f"{where} is {op.op}, which has no parameters "
                            f"(expected one of {', '.join(PARAMETRIC_OPS)})")
        if layer.bias and (len(op.inputs) < 3 or op.inputs[2] < 0):
            raise PlanError(f"{where} ({op.op}) has no bias")
        if layer.op in streamed_ops:
            raise PlanError(f"{where} ({op.op}) runs inside a row-streamed inverted-residual block, "
                            f"which cannot hold trainable parameters")
