"""The sparse-update search: the training plan with the largest summed contribution (gain) whose
training step fits an SRAM budget by the memory model.

A candidate (a Genome) is: the depth k of the bias update (the biases of the last k parametric
layers with one), and for each considered layer either nothing or its weights at a channel ratio
with a gradient filter r. The head's weights and bias are always trained. Its gain is the
contribution table's bias gain for k plus each chosen layer's weight gain (contribution.py); its
memory is the lowering's own prediction (quantize/lower.py, quantize/memory_model.py), never an
estimate: each candidate is lowered, with the auto streaming policy at the budget, so the
lowering row-streams the fewest leading blocks that bring the step within the budget, which is
how the search trades instructions (a streamed block is slower) for memory (its activations are
never whole). A candidate whose layers lie inside the blocks it would have to stream, or that
stays above the budget, is infeasible.

The search is the paper's evolutionary search, seeded and deterministic: a population seeded with
the head alone, every bias depth and every single-layer update, then generations of tournament
selection, uniform crossover and mutation, the best kept. The objective orders candidates:
  accuracy:  the larger gain, then the fewer predicted instructions per step;
  speed:     the gain in whole points (SPEED_RESOLUTION), then the fewer instructions.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from quantize.errors import PlanError
from quantize.graph import Graph
from quantize.lower import LoweredModel, lower_graph, step_sram
from quantize.memory_model import arena_peak_place, linked_ram
from quantize.planning.contribution import ContributionTable, has_bias
from quantize.planning.cost import predicted_step_cost
from quantize.training.program import derive_program
from quantize.training_plan import PlannedLayer, TrainingPlan

OBJECTIVES = ("accuracy", "speed")
STREAMED_OPS = ("ROW_CHAIN", "INVERTED_RESIDUAL")  # the blob ops of row-streamed units
SPEED_RESOLUTION = 0.01   # speed: gains within one point of accuracy count as equal
POPULATION = 40
GENERATIONS = 25
MUTATION = 0.15           # per gene


@dataclass(frozen=True)
class SearchSettings:
    budget: int               # bytes of SRAM a step may take (the memory model's peak)
    board: str
    objective: str = "accuracy"
    seed: int = 0
    time_budget: float | None = None   # seconds; the generations stop when it is spent
    ram: int | None = None    # the board's RAM region: a plan must also link (memory_model.linked_ram)
    population: int = POPULATION
    generations: int = GENERATIONS


@dataclass(frozen=True)
class Evaluated:
    genome: tuple[int, ...]
    plan: TrainingPlan
    gain: float
    peak: int                 # predicted peak SRAM of a step, bytes
    instructions: int         # predicted instructions per step
    trainable_bytes: int
    arena_bytes: int
    feasible: bool
    streamed: int = 0         # row-streamed units (chains and inverted-residual blocks) the lowering chose


@dataclass
class SearchResult:
    best: Evaluated
    evaluated: int            # distinct candidates lowered
    generations: int          # generations run
    stopped_by_time: bool


class Space:
    """Genes: [k] + one per considered layer: 0 (not trained) or 1 + index into its options."""

    def __init__(self, table: ContributionTable, graph: Graph):
        self.table = table
        self.graph = graph
        self.layers = table.layers
        self.with_bias = [op for op in self.layers if has_bias(graph, op)]
        self.options = [[(ratio, r) for ratio in table.ratios(op) for r in table.filters(op)] for op in self.layers]

    def sizes(self) -> list[int]:
        return [len(self.with_bias) + 1] + [len(options) + 1 for options in self.options]

    def gain(self, genome: tuple[int, ...]) -> float:
        gain = self.table.bias_gain(genome[0])
        for op, options, gene in zip(self.layers, self.options, genome[1:]):
            if gene:
                ratio, r = options[gene - 1]
                gain += self.table.weight_gain(op, ratio, r)
        return gain

    def plan(self, genome: tuple[int, ...], template: TrainingPlan) -> TrainingPlan:
        """The training plan of `genome` (template: lr, schedule, epochs, budget, name)."""
        head = self.table.head
        layers = [PlannedLayer(head, True, has_bias(self.graph, head))]
        biased = set(self.with_bias[:genome[0]])
        for op, options, gene in sorted(zip(self.layers, self.options, genome[1:]), reverse=True):
            if gene:
                ratio, r = options[gene - 1]
                layers.append(PlannedLayer(op, True, has_bias(self.graph, op), ratio, r))
            elif op in biased:
                layers.append(PlannedLayer(op, False, True))
        return TrainingPlan(tuple(layers), source="the searched plan", lr=template.lr,
                            lr_schedule=template.lr_schedule, qas=template.qas, epochs=template.epochs,
                            name=template.name, description=template.description, sram_budget=template.sram_budget)


class Evaluator:
    """Lowers candidates (cached by genome) and scores them."""

    def __init__(self, space: Space, settings: SearchSettings, template: TrainingPlan, name: str):
        self.space = space
        self.settings = settings
        self.template = template
        self.name = name
        self.cache: dict[tuple[int, ...], Evaluated] = {}

    def __call__(self, genome: tuple[int, ...]) -> Evaluated:
        if genome not in self.cache:
            plan = self.space.plan(genome, self.template)
            try:
                lowered = lower_graph(self.space.graph, self.name, budget=self.settings.budget, plan=plan,
                                      board=self.settings.board)
            except PlanError:  # a layer inside a block that must be streamed, or a plan the program refuses
                self.cache[genome] = Evaluated(genome, plan, self.space.gain(genome), 0, 0, 0, 0, False)
                return self.cache[genome]
            peak = step_sram(lowered, self.settings.board)
            cost = predicted_step_cost(lowered, self.space.graph, derive_program(self.space.graph, plan, plan.qas))
            streamed = sum(name in STREAMED_OPS for name in lowered.op_names)
            trainable = _header(lowered)["trainable_size"]
            links = self.settings.ram is None or linked_ram(self.settings.board, lowered.plan.arena_size,
                                                            trainable) <= self.settings.ram
            self.cache[genome] = Evaluated(genome, plan, self.space.gain(genome), peak, cost.total, trainable,
                                           lowered.plan.arena_size, peak <= self.settings.budget and links,
                                           streamed)
        return self.cache[genome]

    def key(self, candidate: Evaluated) -> tuple:
        """Larger is better; infeasible candidates below every feasible one."""
        if not candidate.feasible:
            return (0, -candidate.peak, 0)
        gain = candidate.gain
        if self.settings.objective == "speed":
            gain = math.floor(round(gain / SPEED_RESOLUTION, 6))
        return (1, round(gain, 6), -candidate.instructions)


def _header(lowered: LoweredModel) -> dict:
    from quantize.blob import read_header

    return read_header(lowered.blob)


def seeds(space: Space) -> list[tuple[int, ...]]:
    """The head alone, every bias depth, every single layer at each of its options."""
    sizes = space.sizes()
    empty = (0,) * len(sizes)
    genomes = [empty] + [(k, *empty[1:]) for k in range(1, sizes[0])]
    for i, size in enumerate(sizes[1:], start=1):
        for gene in range(1, size):
            genomes.append(tuple(gene if j == i else 0 for j in range(len(sizes))))
    return genomes


def search(space: Space, settings: SearchSettings, template: TrainingPlan, name: str) -> SearchResult:
    """The best plan (module docstring); PlanError when not even the head alone fits."""
    started = time.monotonic()
    evaluate = Evaluator(space, settings, template, name)
    rng = np.random.default_rng(settings.seed)
    sizes = space.sizes()
    pool = [evaluate(genome) for genome in seeds(space)]
    population = sorted(pool, key=evaluate.key, reverse=True)[:settings.population]
    generations, stopped = 0, False
    for _ in range(settings.generations):
        if settings.time_budget is not None and time.monotonic() - started > settings.time_budget:
            stopped = True
            break
        generations += 1
        children = []
        elite = population[:max(2, settings.population // 4)]
        while len(children) < settings.population:
            a, b = (_tournament(population, evaluate, rng) for _ in range(2))
            child = tuple(int(x if rng.random() < 0.5 else y) for x, y in zip(a.genome, b.genome))
            child = tuple(int(rng.integers(size)) if rng.random() < MUTATION else gene
                          for gene, size in zip(child, sizes))
            children.append(evaluate(child))
        unique = {c.genome: c for c in (*elite, *children, *population)}
        population = sorted(unique.values(), key=evaluate.key, reverse=True)[:settings.population]
    best = population[0]
    if not best.feasible:
        raise too_small_error(evaluate, settings)
    return SearchResult(best, len(evaluate.cache), generations, stopped)


def _tournament(population: list[Evaluated], evaluate: Evaluator, rng) -> Evaluated:
    picks = rng.choice(len(population), size=min(3, len(population)), replace=False)
    return max((population[int(i)] for i in picks), key=evaluate.key)


def too_small_error(evaluate: Evaluator, settings: SearchSettings) -> PlanError:
    head = evaluate(seeds(evaluate.space)[0])
    return PlanError(f"budget {settings.budget} bytes: the smallest useful plan (the classifier head alone) needs "
                     f"{head.peak} bytes of SRAM on {settings.board}; give a budget of at least {head.peak} bytes")


def check_forward_fits(graph: Graph, name: str, budget: int, board: str) -> None:
    """Refuses a budget the model's forward pass alone (no training) cannot fit, naming its peak
    and where the arena peaks, with every unit row-streamed that the lowering can stream."""
    lowered = lower_graph(graph, name, budget=budget, plan=TrainingPlan((), source="the forward pass"), board=board)
    peak = step_sram(lowered, board)
    if peak > budget:
        raise PlanError(f"budget {budget} bytes: the forward pass alone takes {peak} bytes of SRAM on {board} "
                        f"(its arena peaks at {arena_peak_place(lowered)}), before anything is trained")
