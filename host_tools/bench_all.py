"""`mcutrain bench all`: every benchmark for `ref` and `mbv2-w0.35-128` on one board, one report.

Runs in this process, one after the other, the functions behind `bench forward`, `bench train`
(per plan), `bench link`, `bench plan` and `bench accuracy` (host_tools/commands/bench.py), each
with its wall-clock seconds; one that fails is recorded with its one-line error and the rest
still run (a long benchmark should not lose an hour to one broken build). From their figures it
derives, per model, the memory comparison the papers make: training everything, the biases plus
the head, the searched sparse plan, and the sparse plan with gradient filtering, beside the
published figures (which are quoted, never measured here).

The defaults are sized for about 45 minutes on a 2-core machine: the device runs train on 1,000
samples for one epoch and are measured on 500; the searches stop after SEARCH_SECONDS.
The output folder (bench_all.json, report.md, PNGs, bench plan's own folders) is written all or
nothing by write_outputs; host_tools/bench_report.py renders it.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

from host_tools.project import ROOT

KB = 1024
REF = "ref"
MBV2 = "mbv2-w0.35-128"
JSON_FILE = "bench_all.json"
REPORT_FILE = "report.md"
COMMAND = "mcutrain bench all --board {board} --json -o DIR"
# mbv2's first search ran 430 s without finding more than the head (README, bench plan); bounded
# here so that the whole run stays within its time.
SEARCH_SECONDS = 120.0

# Quoted from the papers (docs: /work/shared/DESIGN.md), shown labelled "published (not measured here)".
PUBLISHED = (
    {"figure": "peak SRAM, MobileNetV2 sparse update + operator reordering (STM32F746)", "value": "141 KB",
     "bytes": 141 * KB, "short": "TTE: sparse update + reordering",
     "source": "Lin et al., On-Device Training Under 256KB Memory (NeurIPS 2022)"},
    {"figure": "peak SRAM, the same without reordering", "value": "335 KB", "bytes": 335 * KB,
     "short": "TTE: sparse update without reordering",
     "source": "Lin et al. (NeurIPS 2022)"},
    {"figure": "peak memory, full update against sparse update", "value": "21x more", "bytes": None,
     "source": "Lin et al. (NeurIPS 2022)"},
    {"figure": "time of one training step, MobileNetV2 on STM32F746 at 216 MHz", "value": "373 ms", "bytes": None,
     "source": "Lin et al. (NeurIPS 2022)"},
    {"figure": "CIFAR-10 ResNet-18 accuracy, exact gradients -> gradient filtering r = 2", "value": "94.4% -> 93.9%",
     "bytes": None, "source": "Yang et al., Efficient On-device Training via Gradient Filtering (CVPR 2023)"},
)


@dataclass(frozen=True)
class ModelBenches:
    """What `bench all` runs for one model."""

    train_plans: tuple[str, ...]          # committed plans bench train measures
    budgets: tuple[int, ...]              # bench plan's budgets
    link_plan: str | None = None          # bench link on the firmware with this plan (None: not run)
    accuracy_plan: str | None = None      # bench accuracy with this plan (None: weights not trained)
    # Committed hand plans (sparse, sparse + filtering) shown when the search finds the head alone.
    hand_sparse: tuple[str, str] | None = None


MODELS = {
    REF: ModelBenches(("head", "demo", "demo-gf2", "demo-gf4"), (64 * KB, 128 * KB, 256 * KB), "demo", "demo"),
    MBV2: ModelBenches(("head", "sparse", "sparse-gf2"), (128 * KB,), hand_sparse=("sparse", "sparse-gf2")),
}


@dataclass(frozen=True)
class BenchAllSettings:
    board: str = "qemu-m7"
    models: tuple[str, ...] = (REF, MBV2)
    comparison_budget: int = 128 * KB    # the budget whose searched plans the memory comparison shows
    limit: int = 1000                    # training samples of each device run (bench plan, bench accuracy)
    test_limit: int = 500                # test samples they are measured on
    epochs: int = 1
    samples: int = 800                   # the contribution analysis's fine-tuning samples
    layers: int = 16                     # layers it considers, from the head
    search_seconds: float = SEARCH_SECONDS
    seed: int = 1


class Runs:
    """Each sub-benchmark's figures or one-line error, and its wall-clock seconds, by key."""

    def __init__(self, say: Callable[[str], None]):
        self.say = say
        self.started = time.monotonic()
        self.records: dict[str, dict] = {}

    def run(self, key: str, what: str, func: Callable[[], dict]) -> dict | None:
        """func's figures, or None when it failed (its error recorded)."""
        self.say(f"[{time.monotonic() - self.started:6.0f} s] {key}: {what} ...")
        started = time.monotonic()
        record: dict = {"what": what}
        try:
            record["result"] = func()
        except Exception as err:  # noqa: BLE001 - any failure is this sub-benchmark's finding
            record["error"] = one_line(err)
            self.say(f"{key}: FAILED: {record['error']}")
        record["seconds"] = round(time.monotonic() - started, 1)
        self.records[key] = record
        self.say(f"{key}: {record['seconds']} s")
        return record.get("result")


def one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or "(no message)"
    return f"{type(err).__name__}: {text}"


def bench_all(settings: BenchAllSettings, say: Callable[[str], None]) -> dict:
    """The whole benchmark's figures (bench_all.json)."""
    started = time.monotonic()
    report = {"command": COMMAND.format(board=settings.board), "date": _now(), "git": git_state(),
              "machine": machine(), "board": settings.board, "settings": asdict(settings),
              "published": list(PUBLISHED)}
    runs = Runs(say)
    for name in settings.models:
        _bench_model(runs, settings, name)
    report["runs"] = runs.records
    report["memory"] = {name: memory_comparison(runs.records, settings, name) for name in settings.models}
    report["wall_seconds"] = round(time.monotonic() - started, 1)
    report["machine"]["load_average_at_end"] = round(os.getloadavg()[0], 2)
    return report


def _bench_model(runs: Runs, settings: BenchAllSettings, name: str) -> None:
    from host_tools.bench_forward import bench_forward
    from host_tools.bench_train import bench_train
    from host_tools.model_source import resolve_model
    from host_tools.protocol.device import host_model

    benches = MODELS[name]
    board = settings.board
    runs.run(f"{name}/forward", f"bench forward --model {name}",
             lambda: bench_forward(board, resolve_model(name).tflite, name))
    for plan in benches.train_plans:
        runs.run(f"{name}/train/{plan}", f"bench train --model {name} --plan {plan}",
                 lambda plan=plan: bench_train(board, host_model(name, plan)))
    runs.run(f"{name}/train/bias-only", f"bench train --model {name}, the biases of every layer plus the head",
             lambda: bias_only(board, name))
    if benches.link_plan:
        runs.run(f"{name}/link", f"bench link --model {name} --plan {benches.link_plan}",
                 lambda: _link(board, name, benches.link_plan))
    budgets = ",".join(f"{budget // KB}KB" for budget in benches.budgets)
    runs.run(f"{name}/plan", f"bench plan --model {name} --budgets {budgets}",
             lambda: _plan(settings, name, benches.budgets))
    if name == REF:
        runs.run(f"{name}/plan-no-filter", f"mcutrain plan {name} --budget {settings.comparison_budget // KB}KB "
                                           f"--gradient-filter off, then bench train of its plan",
                 lambda: searched_without_filter(settings, name))
    if benches.accuracy_plan:
        runs.run(f"{name}/accuracy", f"bench accuracy --model {name} --plan {benches.accuracy_plan} "
                                     f"--limit {settings.limit} --test-limit {settings.test_limit} "
                                     f"--epochs {settings.epochs}",
                 lambda: _accuracy(settings, name, benches.accuracy_plan))


def _link(board: str, name: str, plan: str) -> dict:
    from host_tools.commands.bench import link_figures

    return link_figures(SimpleNamespace(board=board, model=name, plan=plan, port=None, trace=False, json=True))


def _accuracy(settings: BenchAllSettings, name: str, plan: str) -> dict:
    import sys

    from host_tools.commands.bench import accuracy_figures

    args = SimpleNamespace(board=settings.board, model=name, plan=plan, epochs=settings.epochs, limit=settings.limit,
                           test_limit=settings.test_limit, seed=settings.seed, json=True)
    return accuracy_figures(args, lambda text: print(text, file=sys.stderr, flush=True))


def _plan(settings: BenchAllSettings, name: str, budgets: tuple[int, ...]) -> dict:
    import sys

    from host_tools.bench_plan import BenchPlanSettings, bench_plan

    plan_settings = BenchPlanSettings(name, settings.board, budgets, None, settings.limit, settings.test_limit,
                                      settings.epochs, settings.samples, settings.layers, settings.seed, True,
                                      settings.search_seconds)
    return bench_plan(plan_settings, lambda text: print(text, file=sys.stderr, flush=True))


def bias_only(board: str, name: str) -> dict:
    """The biases of every layer plus the head (bench plan's simple plan): the memory model's
    peak, and bench train's measured figures when that fits the board's RAM."""
    from host_tools.bench_plan import simple_plans
    from host_tools.bench_train import bench_train
    from host_tools.protocol.device import HostModel, host_model
    from host_tools.targets import get_target
    from quantize.lower import lower_tflite, step_sram
    from quantize.tflite_model import parse_tflite
    from quantize.training_plan import head_plan

    model = host_model(name)
    graph = parse_tflite(model.tflite)
    head = head_plan(graph)
    plan = simple_plans(graph, head.layers[0].op, head)[1]
    predicted = step_sram(lower_tflite(model.tflite, name, plan=plan), board)
    ram = get_target(board).ram_budget_bytes
    figures = {"plan": plan.source, "predicted_peak_sram_bytes": predicted, "ram_budget_bytes": ram,
               "fits": predicted <= ram, "train": None}
    if figures["fits"]:
        figures["train"] = bench_train(board, HostModel(model.name, model.tflite, model.origin, plan))
    return figures


def searched_without_filter(settings: BenchAllSettings, name: str) -> dict:
    """`mcutrain plan --gradient-filter off` at the comparison budget, and bench train of its plan."""
    from host_tools.bench_plan import plan_summary
    from host_tools.bench_train import bench_train
    from host_tools.protocol.device import HostModel, host_model
    from host_tools.protocol.workload import load_samples
    from host_tools.targets import get_target
    from quantize.planning.contribution import AnalysisSettings
    from quantize.planning.planner import DEFAULT_LR, PlanRequest, make_plan
    from quantize.tflite_model import parse_tflite

    model = host_model(name)
    graph = parse_tflite(model.tflite)
    data = "mnist5k"
    train = load_samples(model, data, "train", None)
    analysis = AnalysisSettings(train_samples=settings.samples, held_out=max(1, settings.samples // 2),
                                max_layers=settings.layers, gradient_filter=False, seed=settings.seed)
    request = PlanRequest(settings.comparison_budget, settings.board, seed=settings.seed,
                          time_budget=settings.search_seconds, lr=DEFAULT_LR, epochs=settings.epochs, data=data,
                          ram=get_target(settings.board).ram_budget_bytes)
    outcome = make_plan(model.tflite, graph, name, train.x, train.y, request, analysis)
    plan = outcome.plan
    return {"budget_bytes": settings.comparison_budget, "plan": plan_summary(plan, outcome.table.head),
            "plan_file": plan.to_dict(), "planning_seconds": round(outcome.seconds, 1),
            "predicted_peak_sram_bytes": outcome.result.best.peak,
            "train": bench_train(settings.board, HostModel(model.name, model.tflite, model.origin, plan))}


# -- the memory comparison -------------------------------------------------------------------------

def memory_comparison(records: dict, settings: BenchAllSettings, name: str) -> list[dict]:
    """Rows of peak SRAM per way of training `name`: full update, biases + head, the searched
    sparse plan without and with gradient filtering (or the hand plans when the search found the
    head alone). Each row says whether its figure was measured on the device or predicted by the
    memory model, and the run it comes from; a figure whose run failed is None with that error."""
    rows = [_full_update_row(records, name), _bias_only_row(records, name)]
    searched = _searched_row(records, settings, name)
    hand = MODELS[name].hand_sparse
    if name == REF:
        rows.append(_train_row(records, f"{name}/plan-no-filter", "searched sparse plan (gradient filtering off)",
                               lambda result: result["train"], lambda result: result["plan"]))
        rows.append(searched)
    else:
        rows.append(searched)
        if hand and (searched["plan"] in (None, "head")):
            labels = ("hand-written sparse plan (committed `{}`)", "hand-written sparse plan + gradient filtering "
                                                                   "r = 2 (committed `{}`)")
            for plan, label in zip(hand, labels):
                rows.append(_train_row(records, f"{name}/train/{plan}", label.format(plan), lambda result: result,
                                       lambda result, plan=plan: plan))
    return rows


def _row(label: str, source: str, peak=None, kind: str | None = None, plan: str | None = None,
         error: str | None = None) -> dict:
    return {"label": label, "peak_sram_bytes": peak, "kind": kind, "plan": plan, "source": source, "error": error}


def _failed(records: dict, key: str) -> str | None:
    record = records.get(key)
    if record is None:
        return "not run"
    return record.get("error")


def _from_run(records: dict, key: str, label: str, row_of) -> dict:
    """row_of(run `key`'s figures), or a row saying why that run has none."""
    error = _failed(records, key)
    return _row(label, key, error=error) if error else row_of(records[key]["result"])


def _full_update_row(records: dict, name: str) -> dict:
    key, label = f"{name}/train/head", "full update (every weight and bias)"
    return _from_run(records, key, label, lambda result: _row(
        label, key, result["full_update_peak_sram_bytes"], "predicted", "every layer",
        None if result["full_update_peak_sram_bytes"] else result["full_update_note"]))


def _bias_only_row(records: dict, name: str) -> dict:
    """Measured when it fitted the board and bench train ran it, else the memory model's figure."""
    key, label = f"{name}/train/bias-only", "bias-only (the biases of every layer + the head)"
    return _from_run(records, key, label, lambda result: _row(
        label, key, *((result["train"]["peak_sram_bytes"], "measured") if result["train"]
                      else (result["predicted_peak_sram_bytes"], "predicted")), "biases + head"))


def _train_row(records: dict, key: str, label: str, train_of, plan_of) -> dict:
    return _from_run(records, key, label, lambda result: _row(
        label, key, train_of(result)["peak_sram_bytes"], "measured", plan_of(result)))


def _searched_row(records: dict, settings: BenchAllSettings, name: str) -> dict:
    """The bench plan row at the comparison budget (the search with gradient filtering allowed)."""
    key = f"{name}/plan"
    budget = settings.comparison_budget
    label = f"searched sparse plan, gradient filtering allowed ({budget // KB} KB budget)"

    def row_of(result: dict) -> dict:
        row = next((row for row in result["budgets"] if row["budget_bytes"] == budget), None)
        if row is None or not row["feasible"]:
            return _row(label, key, error=row["error"] if row else f"bench plan has no {budget}-byte budget")
        if row["measured_peak_sram_bytes"] is not None:
            return _row(label, key, row["measured_peak_sram_bytes"], "measured", row["plan"])
        return _row(label, key, row["predicted_peak_sram_bytes"], "predicted", row["plan"], row["device_error"])

    return _from_run(records, key, label, row_of)


# -- where and when --------------------------------------------------------------------------------

def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def git_state() -> dict:
    """The commit the run measured, and whether the work tree had changes on top of it."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""

    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": git("rev-parse", "HEAD") or None, "dirty": bool(status)}


def machine() -> dict:
    """What the wall-clock seconds were measured on (instruction counts do not depend on it)."""
    cpu = ""
    try:
        cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), "")
    except OSError:
        pass
    uname = platform.uname()
    return {"nproc": os.cpu_count(), "uname": f"{uname.system} {uname.release} {uname.machine}", "cpu": cpu or None,
            "load_average_at_start": round(os.getloadavg()[0], 2)}


# -- outputs ---------------------------------------------------------------------------------------

def write_outputs(folder: Path, report: dict) -> None:
    """bench_all.json, report.md, the plots and bench plan's folders into `folder`, all or nothing
    (a staging folder beside it, renamed at the end)."""
    from host_tools import bench_report

    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        (staging / JSON_FILE).write_text(json.dumps(report, indent=2) + "\n")
        bench_report.write_plots(staging, report)
        (staging / REPORT_FILE).write_text(bench_report.render_report(report))
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
