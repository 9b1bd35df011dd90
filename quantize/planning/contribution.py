"""Contribution analysis (Lin et al. 2022, "On-Device Training Under 256KB Memory", section 3.2):
how much accuracy each candidate update adds over training the classifier head alone, measured by
fine-tuning the model's fp32 twin (float_twin.py) on part of the train split and evaluating on a
held-out part of it. The test split is never seen.

Candidates, each trained together with the head (weights and bias, always trained):
- bias k:            the biases of the last k parametric layers before the head, k = 1..K;
- weights i ratio:   layer i's weights and bias in its first ceil(C_out * ratio) output channels,
                     ratio in 1, 1/2, 1/4, 1/8 (a ratio that leaves less than one channel is skipped);
- filter i r:        layer i's weights and bias at ratio 1 with gradient filter r in 2, 4, for the
                     FILTER_CANDIDATES filterable layers (stride 1, H and W kept) whose weights gain
                     most unfiltered.
The search adds gains (bias of the chosen depth, plus each chosen layer's weight gain, less what
filtering it cost at ratio 1), as the paper does.

A sample of the gains (golden_sample) is then measured again with the golden reference (the device's integer
arithmetic, one sample per step at the device learning rate) on a smaller subset, so the report
shows whether the twin and the device agree on which updates help.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from quantize.graph import Graph
from quantize.planning.float_twin import FloatTwin, TwinLayer
from quantize.tflite_model import parse_tflite
from quantize.training_plan import (
    CHANNEL_RATIOS,
    FILTERED_OPS,
    PARAMETRIC_OPS,
    PlannedLayer,
    TrainingPlan,
    head_plan,
    output_channels,
)

RATIOS = tuple(CHANNEL_RATIOS.values())  # 1, 1/2, 1/4, 1/8
FILTERS = (2, 4)
FILTER_CANDIDATES = 4


@dataclass(frozen=True)
class AnalysisSettings:
    train_samples: int = 800    # of the train split, for fine-tuning the twin
    held_out: int = 400         # of the train split, disjoint from the above, for the gains
    epochs: int = 2
    batch: int = 32
    lrs: tuple[float, ...] = (1e-2, 3e-3, 1e-3)  # Adam's rates tried on the head alone; the best trains all
    max_layers: int = 16        # parametric layers before the head considered, from the last
    gradient_filter: bool = True
    golden_steps: int = 300     # golden check: training steps and evaluation samples per candidate
    golden_eval: int = 200
    golden_lr: float = 0.05
    seed: int = 0
    workers: int = 2            # processes training candidates (the machines have 2 cores)

    @property
    def rate_steps(self) -> int:
        """Golden steps per rate when choosing the device's rate (planner.choose_device_lr), evaluated
        on the held-out samples: 1000 with the default 800. A plan of a dozen layers often collapses
        in its first few hundred steps at a rate it recovers from later: on ref's 16-layer plan, 300
        steps ranked the rates smallest first, while 1000 ranked them as the whole 4000-step run did
        (the golden reference: 0.008 -> 0.925, 0.012 -> 0.942, 0.016 -> 0.932, 0.02 -> 0.922 on
        mnist5k's test split)."""
        return self.train_samples * 5 // 4

    def epochs_for(self, fit_samples: int) -> int:
        """The twin's fine-tuning epochs over `fit_samples`: `epochs`, or more when the data is
        smaller than train_samples, so that every analysis takes as many Adam steps as the default
        one (2 epochs of 800). A user's small transfer set would otherwise get a dozen steps, too few
        to move a head trained on other classes (measured on the README walk-through's 192 samples
        of new gestures: head alone 0.000 held-out with 2 epochs)."""
        return max(self.epochs, math.ceil(self.epochs * self.train_samples / max(1, fit_samples)))


@dataclass(frozen=True)
class Contribution:
    kind: str          # "head", "bias", "weights"
    op: int            # the layer (bias: the earliest of the k)
    name: str          # its output tensor's name, for people
    k: int = 0         # bias: how many layers
    ratio: float = 1.0
    r: int = 1
    channels: int = 0
    accuracy: float = 0.0
    gain: float = 0.0  # accuracy - the head's accuracy

    def row(self) -> dict:
        return {"kind": self.kind, "op": self.op, "layer": self.name, "k": self.k, "ratio": self.ratio,
                "gradient_filter": self.r, "channels": self.channels, "accuracy": round(self.accuracy, 4),
                "gain": round(self.gain, 4)}


@dataclass
class ContributionTable:
    head: int                          # the head's operator index
    layers: tuple[int, ...]            # the considered parametric layers, last first
    before: float                      # held-out accuracy of the model as it is
    head_accuracy: float               # after training the head alone
    rows: list[Contribution]
    golden: list[dict] = field(default_factory=list)  # the golden check's rows
    lr: float = 0.0                    # the Adam rate the candidates trained at (AnalysisSettings.lrs)

    def bias_gain(self, k: int) -> float:
        return 0.0 if k == 0 else next(c.gain for c in self.rows if c.kind == "bias" and c.k == k)

    def weight_gain(self, op: int, ratio: float, r: int = 1) -> float:
        """The gain of layer `op`'s weights at `ratio`, less what filter r cost it at ratio 1."""
        gain = next(c.gain for c in self.rows if c.kind == "weights" and c.op == op and c.ratio == ratio and c.r == 1)
        if r == 1:
            return gain
        full = next(c.gain for c in self.rows if c.kind == "weights" and c.op == op and c.ratio == 1 and c.r == 1)
        filtered = next(c.gain for c in self.rows if c.kind == "weights" and c.op == op and c.ratio == 1 and c.r == r)
        return gain - max(0.0, full - filtered)

    def ratios(self, op: int) -> tuple[float, ...]:
        return tuple(c.ratio for c in self.rows if c.kind == "weights" and c.op == op and c.r == 1)

    def filters(self, op: int) -> tuple[int, ...]:
        return (1, *sorted(c.r for c in self.rows if c.kind == "weights" and c.op == op and c.r > 1 and c.ratio == 1))


def considered_layers(graph: Graph, max_layers: int) -> tuple[int, tuple[int, ...]]:
    """(the head, the last `max_layers` parametric layers before it, last first)."""
    head = head_plan(graph).layers[0].op
    before = [op.index for op in graph.operators[:head] if op.op in PARAMETRIC_OPS]
    return head, tuple(reversed(before))[:max_layers]


def filterable(graph: Graph, op_index: int) -> bool:
    op = graph.operators[op_index]
    x, y = graph.tensor(op.inputs[0]).shape, graph.tensor(op.outputs[0]).shape
    return op.op in FILTERED_OPS and tuple(x[1:3]) == tuple(y[1:3])


def has_bias(graph: Graph, op_index: int) -> bool:
    op = graph.operators[op_index]
    return len(op.inputs) > 2 and op.inputs[2] >= 0


def analyse(tflite: bytes, x_int8: np.ndarray, y: np.ndarray, settings: AnalysisSettings,
            progress: Callable[[int, str], None] = lambda advance, text: None) -> ContributionTable:
    """The contribution table of the model on int8 train samples x_int8, labels y. `progress(n,
    text)` is told of each candidate (the CLI's progress bar); candidate_count says how many.

    The candidates train in `settings.workers` processes (TensorFlow keeps to one core on graphs
    this small), each with the twin and the data; every candidate starts from the model's own
    parameters with the same seed, so where it runs does not change its result."""
    graph = parse_tflite(tflite)
    head, layers = considered_layers(graph, settings.max_layers)
    head_layer = TwinLayer(head, True, has_bias(graph, head), output_channels(graph, head))
    names = {op.index: graph.tensor(op.outputs[0]).name.split(";")[0] for op in graph.operators}
    with_bias = [op for op in layers if has_bias(graph, op)]
    bias_sets = [tuple(TwinLayer(op, False, True, output_channels(graph, op)) for op in with_bias[:k])
                 for k in range(1, len(with_bias) + 1)]
    weight_sets = [(TwinLayer(op, True, has_bias(graph, op), _channels(graph, op, ratio)),)
                   for op in layers for ratio in RATIOS if _channels(graph, op, ratio)]
    with _Workers(tflite, x_int8, y, settings, head_layer) as workers:
        # The rate: a wide head (mbv2's 1,280 features) collapses to one class at a rate a narrow
        # one (ref's 128) needs to learn in a few dozen steps, so the head alone picks it.
        before, *by_rate = workers.measure([None, *[()] * len(settings.lrs)], progress, names, [0.0, *settings.lrs])
        head_accuracy, lr = max(zip(by_rate, settings.lrs), key=lambda pair: pair[0])
        accuracies = workers.measure([*bias_sets, *weight_sets], progress, names, lr)
        rows = [Contribution("head", head, names[head], channels=head_layer.channels, accuracy=head_accuracy)]
        for k, accuracy in enumerate(accuracies[:len(bias_sets)], start=1):
            op = with_bias[k - 1]
            rows.append(Contribution("bias", op, names[op], k=k, accuracy=accuracy, gain=accuracy - head_accuracy))
        for (layer,), accuracy in zip(weight_sets, accuracies[len(bias_sets):]):
            ratio = next(r for r in RATIOS if _channels(graph, layer.op, r) == layer.channels)
            rows.append(Contribution("weights", layer.op, names[layer.op], ratio=ratio, channels=layer.channels,
                                     accuracy=accuracy, gain=accuracy - head_accuracy))
        if settings.gradient_filter:
            full = sorted((c for c in rows if c.kind == "weights" and c.ratio == 1 and filterable(graph, c.op)),
                          key=lambda c: (-c.gain, c.op))[:FILTER_CANDIDATES]
            filter_sets = [(TwinLayer(c.op, True, has_bias(graph, c.op), c.channels, r),) for c in full for r in FILTERS]
            for (layer,), accuracy in zip(filter_sets, workers.measure(filter_sets, progress, names, lr)):
                rows.append(Contribution("weights", layer.op, names[layer.op], ratio=1.0, r=layer.r,
                                         channels=layer.channels, accuracy=accuracy, gain=accuracy - head_accuracy))
        table = ContributionTable(head, layers, before, head_accuracy, rows, lr=lr)
        sample = golden_sample(table)
        plans = [candidate_plan(table, graph, c, settings.golden_lr) for c in sample]
        table.golden = _golden_rows(table, sample, workers.run(_worker_golden, [(plan,) for plan in plans], progress,
                                                                ["golden check"] * len(plans)))
    return table


class _Workers:
    """A pool of processes, each holding the twin, the split data and the head (_worker_*)."""

    def __init__(self, tflite: bytes, x_int8: np.ndarray, y: np.ndarray, settings: AnalysisSettings,
                 head: TwinLayer):
        import concurrent.futures
        import multiprocessing
        import os

        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # the workers inherit it: no start-up chatter
        self.pool = concurrent.futures.ProcessPoolExecutor(
            settings.workers, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_start,
            initargs=(tflite, x_int8, y, settings, head))

    def __enter__(self) -> "_Workers":
        return self

    def __exit__(self, *exc) -> None:
        self.pool.shutdown(cancel_futures=True)

    def run(self, function, arguments: list[tuple], progress, texts: list[str]) -> list:
        """function(*arguments[i]) for each i in the pool, in order; progress told texts[i] as each ends."""
        futures = [self.pool.submit(function, *argument) for argument in arguments]
        results = []
        for future, text in zip(futures, texts):
            results.append(future.result())
            progress(1, text)
        return results

    def measure(self, candidates: list, progress, names: dict, lr: float | list[float]) -> list[float]:
        """Held-out accuracy after training each candidate (None: no training at all) at `lr`
        (one rate, or one per candidate)."""
        rates = lr if isinstance(lr, list) else [lr] * len(candidates)
        starts = [min((layer.op for layer in candidate or ()), default=None) for candidate in candidates]
        return self.run(_worker_measure, list(zip(candidates, rates)), progress,
                        [names.get(start, "head") if start is not None else "head" for start in starts])


_WORKER: dict = {}


def _worker_start(tflite: bytes, x_int8: np.ndarray, y: np.ndarray, settings: AnalysisSettings,
                  head: TwinLayer) -> None:
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # retracing notes: each starting layer has its own functions
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    twin = FloatTwin(parse_tflite(tflite))
    fit_idx, held_idx = split(y, settings)
    x_fit, x_held = twin.real_input(x_int8[fit_idx]), twin.real_input(x_int8[held_idx])
    _, layers = considered_layers(twin.graph, settings.max_layers)
    for x in (x_fit, x_held):  # the earliest start first: every later prefix runs on from it
        twin.prefix(x, min(layers, default=head.op))
    _WORKER.update(twin=twin, settings=settings, head=head, x_int8=x_int8, y=y, x_fit=x_fit, y_fit=y[fit_idx],
                   x_held=x_held, y_held=y[held_idx])


def _worker_measure(extra: tuple[TwinLayer, ...] | None, lr: float) -> float:
    """Held-out accuracy after training the head and `extra` at Adam rate `lr` (None: the model
    untrained)."""
    twin, settings, head = _WORKER["twin"], _WORKER["settings"], _WORKER["head"]
    start = min([layer.op for layer in extra or ()], default=head.op)
    twin.reset()
    if extra is not None:
        twin.train((head, *extra), twin.prefix(_WORKER["x_fit"], start), _WORKER["y_fit"], start,
                   settings.epochs_for(len(_WORKER["y_fit"])), settings.batch, lr, settings.seed)
    return twin.accuracy(twin.prefix(_WORKER["x_held"], start), _WORKER["y_held"], start)


def candidate_count(graph: Graph, settings: AnalysisSettings) -> int:
    """How many candidates analyse trains (for a progress bar's total)."""
    head, layers = considered_layers(graph, settings.max_layers)
    weights = sum(1 for op in layers for ratio in RATIOS if _channels(graph, op, ratio))
    filters = min(FILTER_CANDIDATES, sum(filterable(graph, op) for op in layers)) * len(FILTERS)
    golden = 3  # golden_sample: the head, the best bias depth, the best weight update
    return 1 + len(settings.lrs) + sum(has_bias(graph, op) for op in layers) + weights + (filters if settings.gradient_filter else 0) \
        + golden


def split(y: np.ndarray, settings: AnalysisSettings, fit_samples: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Indices (fine-tuning, held-out) into the train split: a seeded permutation, the held-out part
    first; fit_samples (default settings.train_samples) fine-tuning ones. Fewer samples than asked
    for shrink both parts in proportion."""
    wanted = settings.train_samples if fit_samples is None else fit_samples
    total = wanted + settings.held_out
    order = np.random.default_rng(settings.seed).permutation(len(y))
    held = max(1, len(y) * settings.held_out // total) if len(y) < total else settings.held_out
    fit = min(wanted, len(y) - held)
    return order[held:held + fit], order[:held]


def _channels(graph: Graph, op: int, ratio: float) -> int:
    c_out = output_channels(graph, op)
    return math.ceil(c_out * ratio) if c_out * ratio >= 1 else 0


# -- the golden check ----------------------------------------------------------------------------

def candidate_plan(table: ContributionTable, graph: Graph, contribution: Contribution, lr: float) -> TrainingPlan:
    """The training plan of one candidate (the head plus what it names)."""
    layers = [PlannedLayer(table.head, True, has_bias(graph, table.head))]
    if contribution.kind == "bias":
        with_bias = [op for op in table.layers if has_bias(graph, op)]
        layers += [PlannedLayer(op, False, True) for op in with_bias[:contribution.k]]
    elif contribution.kind == "weights":
        layers.append(PlannedLayer(contribution.op, True, has_bias(graph, contribution.op), contribution.ratio,
                                   contribution.r))
    return TrainingPlan(tuple(layers), source=f"candidate {contribution.kind} {contribution.op}", lr=lr)


def golden_sample(table: ContributionTable) -> list[Contribution]:
    """The candidates the golden check measures again: the head, the best bias depth and the best
    single-layer weight update."""
    best = [max((c for c in table.rows if c.kind == kind and c.r == 1), key=lambda c: (c.gain, -c.op), default=None)
            for kind in ("bias", "weights")]
    return [table.rows[0], *[c for c in best if c is not None]]


def _golden_rows(table: ContributionTable, sample: list[Contribution], accuracies: list[float]) -> list[dict]:
    return [{**c.row(), "golden_accuracy": round(a, 4), "golden_gain": round(a - accuracies[0], 4)}
            for c, a in zip(sample, accuracies)]


def _worker_golden(plan: TrainingPlan) -> float:
    """Held-out accuracy of the golden reference after training `plan` at its constant rate on the
    first golden_steps fine-tuning samples."""
    from quantize.training.simulate import golden_fit_accuracy

    settings, x, y = _WORKER["settings"], _WORKER["x_int8"], _WORKER["y"]
    fit_idx, held_idx = split(y, settings)
    fit, held = fit_idx[:settings.golden_steps], held_idx[:settings.golden_eval]
    return golden_fit_accuracy(_WORKER["twin"].graph, plan, x[fit], y[fit], x[held], y[held])
