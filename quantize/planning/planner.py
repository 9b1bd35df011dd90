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
    outcome = plan_within(table, graph, name, len(y), request)
    outcome.seconds = time.monotonic() - started
    return outcome


def plan_within(table: ContributionTable, graph: Graph, name: str, train_samples: int,
                request: PlanRequest) -> PlanOutcome:
    """The search alone, on a contribution table already measured (the analysis does not depend on
    the budget: `mcutrain bench plan` analyses once and searches at each budget)."""
    started = time.monotonic()
    template = TrainingPlan((), lr=request.lr,
                            lr_schedule=LrSchedule("cosine", max(1, train_samples * request.epochs)),
                            epochs=request.epochs, sram_budget=request.budget)
    settings = SearchSettings(request.budget, request.board, request.objective, request.seed, request.time_budget)
    result = search(Space(table, graph), settings, template, name)
    best = result.best
    budget_kb = f"{request.budget / 1024:g}KB"
    predicted = {"board": request.board, "budget_bytes": request.budget, "peak_sram_bytes": best.peak,
                 "instructions_per_step": best.instructions, "gain": round(best.gain, 4),
                 "head_accuracy": round(table.head_accuracy, 4), "trainable_bytes": best.trainable_bytes,
                 "arena_bytes": best.arena_bytes, "streamed_units": best.streamed, "objective": request.objective, "seed": request.seed,
                 "data": request.data}
    plan = replace(best.plan, name=f"planned-{budget_kb}",
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
