"""`mcutrain plan` end to end, below the CLI: check the budget can hold the forward pass and the
head, analyse contributions, check a sample against the golden reference, search, and return the
plan with its predictions."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from quantize.graph import Graph
from quantize.planning.contribution import AnalysisSettings, ContributionTable, analyse
from quantize.planning.search import SearchResult, SearchSettings, Space, check_forward_fits, search
from quantize.training_plan import LrSchedule, TrainingPlan

DEFAULT_LR = 0.05       # the device's SGD rate in the written plan: ref's demo plan's, measured best of
DEFAULT_EPOCHS = 2      # 0.01, 0.03, 0.05 (quantize/models/ref/plans/demo.json), with cosine decay
# The rates the golden reference tries on the chosen plan, largest first (see choose_device_lr):
# ref's demo rate suits a few trained layers; a dozen, updated one sample at a time, diverge at it.
# Four: two rounds of the two workers.
DEVICE_RATES = (0.05, 0.02, 0.012, 0.008)


@dataclass(frozen=True)
class PlanRequest:
    budget: int
    board: str
    objective: str = "accuracy"
    seed: int = 0
    time_budget: float | None = None
    lr: float = DEFAULT_LR
    epochs: int = DEFAULT_EPOCHS
    data: str = ""
    ram: int | None = None     # the board's RAM region (the plan's image must link)


@dataclass
class PlanOutcome:
    plan: TrainingPlan          # the chosen plan, `predicted` filled in
    table: ContributionTable
    result: SearchResult
    seconds: float


def make_plan(tflite: bytes, graph: Graph, name: str, x_int8: np.ndarray, y: np.ndarray, request: PlanRequest,
              analysis: AnalysisSettings, progress: Callable[[int, str], None] = lambda a, t: None) -> PlanOutcome:
    """The plan for `graph` trained on (x_int8, y) (the train split the device will see) within
    request.budget; PlanError (one line) when the budget cannot hold the forward pass or the head."""
    started = time.monotonic()
    check_budget(graph, name, request.budget, request.board)
    table = analyse(tflite, x_int8, y, analysis, progress)
    outcome = plan_within(table, graph, name, len(y), request, (x_int8, y), analysis)
    outcome.seconds = time.monotonic() - started
    return outcome


def plan_within(table: ContributionTable, graph: Graph, name: str, train_samples: int,
                request: PlanRequest, samples: tuple[np.ndarray, np.ndarray] | None = None,
                analysis: AnalysisSettings | None = None) -> PlanOutcome:
    """The search alone, on a contribution table already measured (the analysis does not depend on
    the budget: `mcutrain bench plan` analyses once and searches at each budget); with `samples`
    (the int8 train split and its labels), the device rate chosen by choose_device_lr."""
    started = time.monotonic()
    template = TrainingPlan((), lr=request.lr,
                            lr_schedule=LrSchedule("cosine", max(1, train_samples * request.epochs)),
                            epochs=request.epochs, sram_budget=request.budget)
    settings = SearchSettings(request.budget, request.board, request.objective, request.seed, request.time_budget,
                              request.ram)
    result = search(Space(table, graph), settings, template, name)
    best = result.best
    lr, by_rate = request.lr, {}
    if samples is not None:
        lr, by_rate = choose_device_lr(graph, best.plan, *samples, analysis or AnalysisSettings(), request.lr)
    budget_kb = f"{request.budget / 1024:g}KB"
    predicted = {"board": request.board, "budget_bytes": request.budget, "peak_sram_bytes": best.peak,
                 "instructions_per_step": best.instructions, "gain": round(best.gain, 4),
                 "head_accuracy": round(table.head_accuracy, 4), "trainable_bytes": best.trainable_bytes,
                 "arena_bytes": best.arena_bytes, "streamed_units": best.streamed,
                 "golden_accuracy_by_lr": by_rate, "objective": request.objective, "seed": request.seed,
                 "data": request.data}
    plan = replace(best.plan, lr=lr, name=f"planned-{budget_kb}",
                   description=f"mcutrain plan: {request.objective} within {budget_kb} on {request.board}, "
                               f"contribution analysis on {request.data or 'the given data'} (seed {request.seed})",
                   predicted=predicted, source=f"the plan searched within {budget_kb}")
    return PlanOutcome(plan, table, result, time.monotonic() - started)


def check_budget(graph: Graph, name: str, budget: int, board: str) -> None:
    """Refuses (PlanError, one line) a budget that cannot hold the forward pass, or the head alone
    (the smallest useful plan), before any analysis runs."""
    from quantize.planning.contribution import considered_layers
    from quantize.planning.search import Evaluator, too_small_error

    check_forward_fits(graph, name, budget, board)
    head, _ = considered_layers(graph, 0)
    settings = SearchSettings(budget, board)
    evaluate = Evaluator(Space(ContributionTable(head, (), 0.0, 0.0, []), graph), settings,
                         TrainingPlan((), sram_budget=budget), name)
    if not evaluate((0,)).feasible:
        raise too_small_error(evaluate, settings)


_GOLDEN_RUN: dict = {}  # what the forked rate workers read (inherited, never pickled)


def choose_device_lr(graph: Graph, plan: TrainingPlan, x_int8: np.ndarray, y: np.ndarray,
                     analysis: AnalysisSettings, largest: float) -> tuple[float, dict[str, float]]:
    """The device's SGD rate for `plan`: of DEVICE_RATES up to `largest`, the one after which the
    golden reference (the device's arithmetic, one sample per step, QAS, cosine decay) scores best
    on the held-out samples, after rate_steps steps (cosine over them) on the others; ties go to the
    larger rate. Two processes (forked: numpy only)."""
    import concurrent.futures
    import multiprocessing

    from quantize.planning.contribution import split

    rates = [rate for rate in DEVICE_RATES if rate <= largest] or [largest]
    fit_idx, held_idx = split(y, analysis, analysis.rate_steps)
    _GOLDEN_RUN.update(graph=graph, plan=plan, x=x_int8[fit_idx], y=y[fit_idx], x_held=x_int8[held_idx],
                       y_held=y[held_idx])
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork")) as pool:
        accuracies = list(pool.map(_golden_at_rate, rates))
    best = max(zip(accuracies, rates), key=lambda pair: pair[0])[1]
    return best, {f"{rate:g}": round(accuracy, 4) for rate, accuracy in zip(rates, accuracies)}


def _golden_at_rate(rate: float) -> float:
    from quantize.training.simulate import golden_fit_accuracy

    run = _GOLDEN_RUN
    plan = replace(run["plan"], lr=rate, lr_schedule=LrSchedule("cosine", max(1, len(run["y"]))))
    return golden_fit_accuracy(run["graph"], plan, run["x"], run["y"], run["x_held"], run["y_held"])
