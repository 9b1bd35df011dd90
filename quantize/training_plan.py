"""The training plan: which layers' parameters the device keeps in SRAM and updates, which of their
output channels, and the hyper-parameters of the update.

`mcutrain compile|build --plan P`, the device commands' `--plan P` and `mcutrain baseline --update
plan:P` read it (`resolve_plan`): P is a path when it names an existing file, else the name of a
plan committed beside the model, quantize/models/<model>/plans/<P>.json. Without one the plan is
the classifier head (the last FULLY_CONNECTED's weights and bias). The lowering places the planned
tensors together at the end of the blob's data section, the trainable region the firmware copies
to SRAM at boot, updates, checkpoints and restores (RESET_PARAMS); planned weights stay int8, never
packed (quantize/packing.py), since the device updates them.

Version 2 (version 1 files, with only `op`, `weights` and `bias` per layer, load as version 2 with
the defaults below):

    {"version": 2,
     "name": "demo", "description": "head, last 1x1 conv and the last projection",
     "lr": 0.01, "lr_schedule": {"cosine": 5000}, "qas": true, "epochs": 2,
     "trainable": [{"op": 22, "weights": true, "bias": true},
                   {"op": 20, "weights": true, "bias": true, "channels": "1/2"},
                   {"op": 19, "bias": true, "channels": [0, 5, 7]}]}

Per layer:
- `op`: the TFLite operator index (what compile's errors name). Only CONV_2D, DEPTHWISE_CONV_2D and
  FULLY_CONNECTED have parameters.
- `weights`, `bias`: update the filter / the bias; default false, at least one must be true.
- `channels`: which output channels are updated (weights and bias alike), default all. Either a
  ratio, "1", "1/2", "1/4", "1/8" or the numbers 1, 0.5, 0.25, 0.125: the FIRST ceil(C_out * ratio)
  output channels (1/4 of 10 is 3); a ratio below 1 is refused for a layer with fewer than 1/ratio
  output channels (1/8 of 4 channels would be half a channel). Or an explicit list of output channel
  indices, sorted, unique, each below C_out (checked against the model by check_plan).
- `gradient_filter`: r in 1 (default: off), 2 or 4, on CONV_2D and DEPTHWISE_CONV_2D whose output
  has its input's height and width (stride 1): the layer's backward pass works on r x r patches
  (gradient filtering, Yang et al. 2023; firmware/lib/train/README.md "Gradient filtering").
Global:
- `lr`: the SGD learning rate, a number in (0, 1], default DEFAULT_LR.
- `lr_schedule`: "constant" (default), or {"cosine": STEPS}: cosine decay from lr to 0 over STEPS
  training steps (one step is one sample on the device), 0 from step STEPS on. See lr_at.
- `qas`: Quantization-Aware Scaling of the int8 gradients (README), default true.
- `epochs`: how many passes over the data the plan was made for (a hint for the commands that train),
  a positive integer, optional.
- `name`, `description`: optional strings, for people and reports.
- `sram_budget`: bytes of SRAM a training step may take (the memory model's predicted peak,
  quantize/memory_model.py), optional: the lowering row-streams the fewest leading blocks that
  bring the step within it (quantize/lower.py lower_graph), instead of its default 128 KB.
- `predicted`: what `mcutrain plan` predicted for this plan (an object: `board`,
  `peak_sram_bytes`, `instructions_per_step`, `gain`, ...), optional, kept for reports and never
  read by the lowering.

`mcutrain plan` (quantize/planning/) writes these files from a contribution analysis and a search
under a memory budget.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from quantize.errors import PlanError
from quantize.ops import parametric_ops
from quantize.tflite_model import Graph

PLAN_VERSION = 2
READABLE_VERSIONS = (1, 2)
PARAMETRIC_OPS = parametric_ops()  # the ops whose OpDef says they have parameters (quantize/ops/)
DEFAULT_LR = 0.01
# The channel ratios a plan may name, by their spelling in a plan file.
CHANNEL_RATIOS = {"1": 1.0, "1/2": 0.5, "1/4": 0.25, "1/8": 0.125}
ALL_CHANNELS = 1.0
PLANS_FOLDER = "plans"  # quantize/models/<model>/plans/<name>.json

_LAYER_FIELDS = {1: ("op", "weights", "bias"), 2: ("op", "weights", "bias", "channels", "gradient_filter")}
GRADIENT_FILTERS = (1, 2, 4)  # patch sizes r a layer's gradient filter may have (1: off)
FILTERED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D")
_PLAN_FIELDS = {1: ("version", "trainable"),
                2: ("version", "trainable", "name", "description", "lr", "lr_schedule", "qas", "epochs", "sram_budget",
                    "predicted")}
_CHANNELS_EXPECTED = "expected 1, 1/2, 1/4, 1/8 or a list of channel indices"

Channels = float | tuple[int, ...]  # a ratio of CHANNEL_RATIOS, or explicit output channel indices


@dataclass(frozen=True)
class PlannedLayer:
    op: int                            # TFLite operator index
    weights: bool
    bias: bool
    channels: Channels = ALL_CHANNELS  # which output channels are updated (module docstring)
    gradient_filter: int = 1           # r: the backward pass's patch size (1: no filtering)
    where: str = field(default="", compare=False, repr=False)  # "plan.json: trainable[2]", for messages

    def channel_indices(self, out_channels: int) -> tuple[int, ...]:
        """The output channels this layer updates, ascending, for an operator with `out_channels`.
        PlanError when a listed index is not below out_channels, or when a ratio below 1 asks for
        less than one channel (out_channels < 1 / ratio)."""
        where = f"{self.where or f'operator {self.op}'}.channels"
        if isinstance(self.channels, tuple):
            bad = [c for c in self.channels if c >= out_channels]
            if bad:
                raise PlanError(f"{where}: channel {bad[0]} is out of range: operator {self.op} has "
                                f"{out_channels} output channels")
            return self.channels
        if out_channels * self.channels < 1:
            raise PlanError(f"{where}: {_ratio_text(self.channels)} of {out_channels} output channels is less than "
                            f"one channel (operator {self.op})")
        return tuple(range(math.ceil(out_channels * self.channels)))

    def to_dict(self) -> dict:
        doc: dict = {"op": self.op, "weights": self.weights, "bias": self.bias}
        if self.channels != ALL_CHANNELS:
            doc["channels"] = list(self.channels) if isinstance(self.channels, tuple) else _ratio_text(self.channels)
        if self.gradient_filter != 1:
            doc["gradient_filter"] = self.gradient_filter
        return doc


@dataclass(frozen=True)
class LrSchedule:
    """How the learning rate changes with the step: "constant", or "cosine" over `steps` steps."""

    kind: str = "constant"
    steps: int = 0

    def to_json_value(self) -> str | dict:
        return self.kind if self.kind == "constant" else {self.kind: self.steps}


CONSTANT = LrSchedule()


@dataclass(frozen=True)
class TrainingPlan:
    layers: tuple[PlannedLayer, ...]
    source: str = "the default plan"  # where it came from, for messages
    lr: float = DEFAULT_LR
    lr_schedule: LrSchedule = CONSTANT
    qas: bool = True
    epochs: int | None = None         # a hint; None: the command's own default
    name: str | None = None
    description: str | None = None
    sram_budget: int | None = None    # bytes a training step may take; None: the lowering's default
    predicted: dict | None = field(default=None, compare=False)  # mcutrain plan's predictions, for reports

    def layer(self, op: int) -> PlannedLayer | None:
        return next((layer for layer in self.layers if layer.op == op), None)

    def lr_at(self, step: int) -> float:
        """The learning rate of training step `step` (0 the first), as the float32 the host sends
        in SET_CONFIG: the float64 value below rounded once to the nearest float32.
            constant:       lr
            cosine(STEPS):  0.5 * lr * (1 + cos(pi * step / STEPS)) for step < STEPS, else 0
        (float64 arithmetic in this order, math.cos and math.pi)."""
        if step < 0:
            raise ValueError(f"step {step}: expected a step >= 0")
        rate = self.lr
        if self.lr_schedule.kind == "cosine":
            steps = self.lr_schedule.steps
            rate = 0.5 * self.lr * (1.0 + math.cos(math.pi * step / steps)) if step < steps else 0.0
        return float(np.float32(rate))

    def to_dict(self) -> dict:
        """The version 2 JSON object of this plan (defaults written out, absent options left out)."""
        doc: dict = {"version": PLAN_VERSION}
        doc.update({key: value for key, value in (("name", self.name), ("description", self.description))
                    if value is not None})
        doc.update({"lr": self.lr, "lr_schedule": self.lr_schedule.to_json_value(), "qas": self.qas})
        if self.epochs is not None:
            doc["epochs"] = self.epochs
        if self.sram_budget is not None:
            doc["sram_budget"] = self.sram_budget
        if self.predicted is not None:
            doc["predicted"] = self.predicted
        doc["trainable"] = [layer.to_dict() for layer in self.layers]
        return doc

    def to_json(self) -> str:
        """to_dict as a plan file: one line per field and per trainable layer."""
        doc = self.to_dict()
        layers = ",\n".join(f"    {json.dumps(layer)}" for layer in doc.pop("trainable"))
        fields = "".join(f"  {json.dumps(key)}: {json.dumps(value)},\n" for key, value in doc.items())
        return f"{{\n{fields}  \"trainable\": [\n{layers}\n  ]\n}}\n"


def head_plan(graph: Graph) -> TrainingPlan:
    """The default: the last FULLY_CONNECTED's weights and bias (if it has one), or nothing when
    there is no FULLY_CONNECTED."""
    heads = [op for op in graph.operators if op.op == "FULLY_CONNECTED"]
    if not heads:
        return TrainingPlan(())
    head = heads[-1]
    return TrainingPlan((PlannedLayer(head.index, True, len(head.inputs) > 2 and head.inputs[2] >= 0),))


# -- reading ------------------------------------------------------------------------------------

def _shown(value) -> str:
    """A value as the plan file spells it (JSON), for messages."""
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def _ratio_text(ratio: float) -> str:
    return next(text for text, value in CHANNEL_RATIOS.items() if value == ratio)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_index(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _flag(doc: dict, key: str, location: str, default: bool = False) -> bool:
    """doc[key] (default when absent); `location` names the field in messages."""
    value = doc.get(key, default)
    if not isinstance(value, bool):
        raise PlanError(f"{location}: expected true or false, got {_shown(value)}")
    return value


def _refuse_unknown(doc: dict, allowed: tuple[str, ...], where: str, version: int) -> None:
    unknown = [key for key in doc if key not in allowed]
    if unknown:
        expected = ", ".join(f"'{key}'" for key in allowed)
        raise PlanError(f"{where}: unknown field {unknown[0]!r} in a version {version} plan (expected {expected})")


def _channels(value, where: str) -> Channels:
    if isinstance(value, str) and value in CHANNEL_RATIOS:
        return CHANNEL_RATIOS[value]
    if _is_number(value) and float(value) in CHANNEL_RATIOS.values():
        return float(value)
    if isinstance(value, list) and value and all(_is_index(c) and c >= 0 for c in value):
        if any(b <= a for a, b in zip(value, value[1:])):
            raise PlanError(f"{where}.channels: channel indices must be sorted and unique, got {_shown(value)}")
        return tuple(value)
    raise PlanError(f"{where}.channels: {_CHANNELS_EXPECTED}, got {_shown(value)}")


def _layer(entry, where: str, version: int) -> PlannedLayer:
    if not isinstance(entry, dict):
        raise PlanError(f"{where}: expected an object with {', '.join(repr(k) for k in _LAYER_FIELDS[version])}")
    _refuse_unknown(entry, _LAYER_FIELDS[version], where, version)
    op = entry.get("op")
    if not _is_index(op) or op < 0:
        raise PlanError(f"{where}.op: expected a TFLite operator index, got {_shown(op)}")
    weights, bias = _flag(entry, "weights", f"{where}.weights"), _flag(entry, "bias", f"{where}.bias")
    if not (weights or bias):
        raise PlanError(f"{where}: neither 'weights' nor 'bias' is true")
    channels = _channels(entry["channels"], where) if "channels" in entry else ALL_CHANNELS
    r = entry.get("gradient_filter", 1)
    if not _is_index(r) or r not in GRADIENT_FILTERS:
        raise PlanError(f"{where}.gradient_filter: expected {', '.join(map(str, GRADIENT_FILTERS))}, got {_shown(r)}")
    return PlannedLayer(op, weights, bias, channels, r, where)


def _lr(value, source: str) -> float:
    if not _is_number(value) or not 0 < value <= 1:
        raise PlanError(f"{source}: lr: expected a number in (0, 1], got {_shown(value)}")
    return float(value)


def _lr_schedule(value, source: str) -> LrSchedule:
    if value == "constant":
        return CONSTANT
    if isinstance(value, dict) and list(value) == ["cosine"]:
        steps = value["cosine"]
        if _is_index(steps) and steps >= 1:
            return LrSchedule("cosine", steps)
        raise PlanError(f"{source}: lr_schedule.cosine: expected a positive number of steps, got {_shown(steps)}")
    raise PlanError(f'{source}: lr_schedule: expected "constant" or {{"cosine": STEPS}}, got {_shown(value)}')


def _optional_text(doc: dict, key: str, source: str) -> str | None:
    value = doc.get(key)
    if value is not None and not isinstance(value, str):
        raise PlanError(f"{source}: {key}: expected a string, got {_shown(value)}")
    return value


def parse_plan(text: str, source: str) -> TrainingPlan:
    """A plan from its JSON text (version 1 or 2); errors name `source` and the field at fault."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise PlanError(f"{source}: not JSON ({err.msg} at line {err.lineno})") from None
    if not isinstance(doc, dict):
        raise PlanError(f"{source}: expected a JSON object with 'version' and 'trainable'")
    version = doc.get("version")
    if not _is_index(version) or version not in READABLE_VERSIONS:
        raise PlanError(f"{source}: version: expected {' or '.join(map(str, READABLE_VERSIONS))}, "
                        f"got {_shown(version)}")
    _refuse_unknown(doc, _PLAN_FIELDS[version], source, version)
    entries = doc.get("trainable")
    if not isinstance(entries, list):
        raise PlanError(f"{source}: trainable: expected a list of layers, got {_shown(entries)}")
    layers: list[PlannedLayer] = []
    for i, entry in enumerate(entries):
        layer = _layer(entry, f"{source}: trainable[{i}]", version)
        if any(other.op == layer.op for other in layers):
            raise PlanError(f"{layer.where}.op: operator {layer.op} is listed twice")
        layers.append(layer)
    epochs = doc.get("epochs")
    if epochs is not None and (not _is_index(epochs) or epochs < 1):
        raise PlanError(f"{source}: epochs: expected a positive integer, got {_shown(epochs)}")
    sram_budget = doc.get("sram_budget")
    if sram_budget is not None and (not _is_index(sram_budget) or sram_budget < 1):
        raise PlanError(f"{source}: sram_budget: expected a positive number of bytes, got {_shown(sram_budget)}")
    predicted = doc.get("predicted")
    if predicted is not None and not isinstance(predicted, dict):
        raise PlanError(f"{source}: predicted: expected an object, got {_shown(predicted)}")
    return TrainingPlan(
        layers=tuple(layers),
        source=source,
        lr=_lr(doc.get("lr", DEFAULT_LR), source),
        lr_schedule=_lr_schedule(doc.get("lr_schedule", "constant"), source),
        qas=_flag(doc, "qas", f"{source}: qas", default=True),
        epochs=epochs,
        name=_optional_text(doc, "name", source),
        description=_optional_text(doc, "description", source),
        sram_budget=sram_budget,
        predicted=predicted,
    )


def load_plan(path: Path) -> TrainingPlan:
    try:
        text = Path(path).read_text()
    except OSError as err:
        raise PlanError(f"{path}: cannot read the training plan ({err.strerror})") from None
    return parse_plan(text, str(path))


# -- finding a plan by name ---------------------------------------------------------------------

def plans_folder(model_name: str, models_dir: Path | None = None) -> Path:
    """Where the plans committed for reference model `model_name` live."""
    if models_dir is None:
        from quantize.models import MODELS_DIR

        models_dir = MODELS_DIR
    return Path(models_dir) / model_name / PLANS_FOLDER


def available_plans(model_name: str, models_dir: Path | None = None) -> tuple[str, ...]:
    """The names of the plans committed for `model_name`, sorted (none for a model without a folder)."""
    folder = plans_folder(model_name, models_dir)
    return tuple(sorted(path.stem for path in folder.glob("*.json"))) if folder.is_dir() else ()


def resolve_plan(value: str | Path, model_name: str, models_dir: Path | None = None) -> TrainingPlan:
    """The plan `value` names for model `model_name`: the file `value` when it exists, else the
    plan of that name committed beside the model (quantize/models/<model>/plans/<value>.json).
    An unknown name fails in one line listing the names the model has."""
    path = Path(value)
    if path.is_file():
        return load_plan(path)
    names = available_plans(model_name, models_dir)
    if str(value) in names:
        return load_plan(plans_folder(model_name, models_dir) / f"{value}.json")
    known = f"its plans: {', '.join(names)}" if names else "it has no committed plans"
    raise PlanError(f"training plan {str(value)!r}: no such file, and model {model_name} has no plan of that name "
                    f"({known})")


# -- checking against the model -----------------------------------------------------------------

def output_channels(graph: Graph, op_index: int) -> int:
    """C_out of a parametric operator: the last dimension of its output (NHWC or [N, C])."""
    return graph.tensor(graph.operators[op_index].outputs[0]).shape[-1]


def check_plan(plan: TrainingPlan, graph: Graph, streamed_ops: set[int]) -> None:
    """Refuses a plan that names what the model does not have (an operator, a bias, an output
    channel), or a layer the device runs inside a row-streamed block (its kernels read the flash
    copy of the parameters)."""
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
            raise PlanError(f"{where} ({op.op}) runs inside a row-streamed inverted-residual block or row chain, "
                            f"which cannot hold trainable parameters")
        layer.channel_indices(output_channels(graph, layer.op))
        if layer.gradient_filter != 1:
            _check_filter(layer, op, graph, where)


def _check_filter(layer: PlannedLayer, op, graph: Graph, where: str) -> None:
    """Gradient filtering pairs each r x r patch of the output with the same patch of the input: the
    layer must keep the height and width (stride 1, SAME padding or a 1x1 filter)."""
    if op.op not in FILTERED_OPS:
        raise PlanError(f"{where} ({op.op}): gradient_filter applies to {' and '.join(FILTERED_OPS)} only")
    x, y = graph.tensor(op.inputs[0]).shape, graph.tensor(op.outputs[0]).shape
    option = _unfiltered_option(op, x, y)
    if option:
        raise PlanError(f"{where} ({op.op}): gradient_filter is not implemented with {option}")
    if tuple(x[1:3]) != tuple(y[1:3]):
        raise PlanError(f"{where} ({op.op}): gradient_filter needs the output's height and width to be the input's "
                        f"(stride 1, SAME padding), got {x[1]}x{x[2]} -> {y[1]}x{y[2]}")


def _unfiltered_option(op, x, y) -> str | None:
    """The convolution option gradient filtering does not take (dilation, a depth multiplier, a
    stride over 2), or None."""
    o = op.options
    if o.dilation_h != 1 or o.dilation_w != 1:
        return f"dilation {o.dilation_h}x{o.dilation_w}"
    if op.op == "DEPTHWISE_CONV_2D" and y[-1] != x[-1]:
        return f"depth multiplier {y[-1] // x[-1]}"
    if o.stride_h > 2 or o.stride_w > 2:
        return f"stride {o.stride_h}x{o.stride_w}"
    return None
