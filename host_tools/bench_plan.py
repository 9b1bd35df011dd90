"""`mcutrain bench plan`: what planning costs and what its plans give on the emulated device.

One contribution analysis (it does not depend on the budget), then per budget the search
(quantize/planning/planner.py plan_within) and the chosen plan on the device:
  ref             trained, so the plans are compared by accuracy: the planned plan, the head alone
                  and the biases of every layer plus the head, each trained one epoch (by default)
                  on the same samples at the same rates (the plan's lr, cosine-decayed over the
                  run), beside the golden reference (host_tools/device_training.py);
  mbv2-w0.35-128  random weights, so only memory and speed mean something: the planned plan's
                  measured peak SRAM and instructions per step (host_tools/bench_train.py).
A budget the model cannot fit is a row with the planner's one-line reason.

"Planning time at default settings" is what one `mcutrain plan` run takes: the analysis plus the
budget check and search at one budget; the slowest search of the run is used (a bound for any of
its budgets).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
import time
import zlib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

DEFAULT_BUDGETS = "64KB,96KB,128KB,192KB,256KB"
# What each model's device runs measure (module docstring).
MEASURES = {"ref": "accuracy", "mbv2-w0.35-128": "cost"}
REF_DATA = "mnist5k"                 # ref was trained on Fashion-MNIST; it learns mnist5k on the device
TWO_CLASS_SOURCE = "fashion-mnist"   # mbv2 has 2 outputs: its planning data are two Fashion-MNIST classes
TWO_CLASSES = (0, 1)                 # T-shirt/top, Trouser
DEFAULT_LIMIT = 1000
DEFAULT_TEST_LIMIT = 500
DEFAULT_EPOCHS = 1
DEFAULT_SEED = 1                     # the device's seed must be non-zero (train --seed)

JSON_FILE = "bench_plan.json"
CSV_FILE = "bench_plan.csv"
PLOT_FILE = "plan_accuracy.png"
SIMPLE_PLANS = ("head_only", "biases_plus_head")
SIMPLE_COLUMNS = ("fits", "predicted_peak_sram_bytes", "device_accuracy", "golden_bit_exact", "note")


@dataclass(frozen=True)
class BenchPlanSettings:
    model: str
    board: str
    budgets: tuple[int, ...]
    data: str | None        # None: the model's own (REF_DATA, or two Fashion-MNIST classes for mbv2)
    limit: int              # training samples of each device run
    test_limit: int         # test samples the device's accuracy is measured on
    epochs: int
    samples: int            # the analysis's fine-tuning samples (half as many more held out)
    layers: int             # the analysis's considered layers
    seed: int
    no_progress: bool = True
    search_seconds: float | None = None  # bound on each search's generations (None: the planner's own)


@dataclass
class BudgetRow:
    """One budget: the search's plan and predictions, and what the device measured. The simple
    plans' columns (head_only_*, biases_plus_head_*) hold whether they fit by the memory model,
    their predicted peak and, for ref, their device accuracy."""

    budget_bytes: int
    feasible: bool
    error: str | None = None
    search_seconds: float | None = None
    plan: str | None = None                     # the layers, summarised (plan_summary)
    predicted_gain: float | None = None
    predicted_peak_sram_bytes: int | None = None
    measured_peak_sram_bytes: int | None = None
    predicted_instructions_per_step: int | None = None
    measured_instructions_per_step: int | None = None
    accuracy_before: float | None = None
    device_accuracy: float | None = None
    golden_accuracy: float | None = None
    golden_bit_exact: bool | None = None
    device_error: str | None = None             # why the plan did not run on the device
    simple: dict = field(default_factory=lambda: {f"{name}_{key}": None for name in SIMPLE_PLANS
                                                  for key in SIMPLE_COLUMNS})
    plan_file: dict | None = None               # the plan as `mcutrain plan` writes it

    def as_dict(self) -> dict:
        doc = asdict(self)
        doc.update(doc.pop("simple"))
        return doc


@dataclass
class DeviceFigures:
    """What one plan's run on the device measured (accuracies: ref only), or why it could not run."""

    peak_sram_bytes: int | None = None
    instructions_per_step: int | None = None
    accuracy_before: float | None = None
    accuracy: float | None = None
    golden_accuracy: float | None = None
    golden_bit_exact: bool | None = None
    error: str | None = None   # the firmware did not build, or the device failed


def bench_plan(settings: BenchPlanSettings, say: Callable[[str], None]) -> dict:
    """The benchmark's figures (the JSON object `--json` prints)."""
    from host_tools.protocol.device import host_model
    from quantize.tflite_model import parse_tflite

    model = host_model(settings.model)
    graph = parse_tflite(model.tflite)
    with tempfile.TemporaryDirectory(prefix="mcutrain-bench-plan-") as scratch:
        data, data_note = _data(settings, Path(scratch))
        if data_note:
            say(data_note)
        return _bench(settings, model, graph, data, data_note, say)


def _bench(settings: BenchPlanSettings, model, graph, data: str, data_note: str | None, say) -> dict:
    from host_tools.protocol.workload import load_samples
    from quantize.planning.contribution import AnalysisSettings

    rows: dict[int, BudgetRow] = {}
    check_seconds = {}
    for budget in settings.budgets:
        started = time.monotonic()
        error = _budget_refusal(graph, model.name, budget, settings.board)
        check_seconds[budget] = time.monotonic() - started
        if error:
            rows[budget] = BudgetRow(budget, False, error)
            say(error)
    analysis = AnalysisSettings(train_samples=settings.samples, held_out=max(1, settings.samples // 2),
                                max_layers=settings.layers, seed=settings.seed)
    defaults = AnalysisSettings()
    report = {"model": model.name, "board": settings.board, "data": data, "data_note": data_note,
              "measures": MEASURES[model.name], "analysis_seconds": None, "planning_seconds_default": None,
              "default_settings": (analysis.train_samples, analysis.max_layers)
              == (defaults.train_samples, defaults.max_layers),
              "settings": {"samples": settings.samples, "layers": settings.layers, "seed": settings.seed,
                           "limit": settings.limit, "test_limit": settings.test_limit, "epochs": settings.epochs}}
    if len(rows) < len(settings.budgets):
        train = load_samples(model, data, "train", settings.limit)
        test = load_samples(model, data, "test", settings.test_limit)
        report.update(train=train.description, test=test.description)
        load_before = os.getloadavg()[0]
        table, report["analysis_seconds"], report["analysis_cpu_seconds"] = _analyse(
            model, data, analysis, settings.no_progress, say)
        # What the gains are measured from: a head that already gets everything right leaves no gain to plan for.
        report["held_out_accuracy"] = {"before": round(table.before, 4), "head_alone": round(table.head_accuracy, 4)}
        # Wall-clock seconds on a shared machine: the load says whether other work slowed them.
        report["load_average"] = {"cpus": os.cpu_count(), "before_analysis": round(load_before, 2),
                                  "after_analysis": round(os.getloadavg()[0], 2)}
        runs = _DeviceRuns(settings, model, train, test, say)
        analysed = load_samples(model, data, "train", None)  # what the analysis and the rate check see
        for budget in settings.budgets:
            if budget not in rows:
                rows[budget] = _budget_row(settings, model, graph, table, data, budget, len(train), runs, say,
                                           (analysed.x, analysed.y), analysis)
                if rows[budget].search_seconds is not None:
                    rows[budget].search_seconds = round(rows[budget].search_seconds + check_seconds[budget], 2)
        searches = [row.search_seconds for row in rows.values() if row.search_seconds is not None]
        if searches:
            report["planning_seconds_default"] = round(report["analysis_seconds"] + max(searches), 1)
    report["budgets"] = [rows[budget].as_dict() for budget in settings.budgets]
    return report


def _budget_refusal(graph, name: str, budget: int, board: str) -> str | None:
    """The planner's one-line reason when `budget` cannot hold the forward pass or the head alone."""
    from quantize.errors import PlanError
    from quantize.planning.planner import check_budget

    try:
        check_budget(graph, name, budget, board)
    except PlanError as err:
        return str(err)
    return None


def _analyse(model, data: str, analysis, no_progress: bool, say):
    """(the contribution table, wall-clock seconds, CPU seconds of this process and its workers),
    on the whole train split as `mcutrain plan` uses it. The CPU seconds do not depend on what
    else the machine runs: on an idle machine the wall-clock is about them / analysis.workers."""
    from host_tools.protocol.metrics import progress_bar
    from host_tools.protocol.workload import load_samples
    from quantize.planning.contribution import analyse, candidate_count
    from quantize.tflite_model import parse_tflite

    samples = load_samples(model, data, "train", None)
    say(f"contribution analysis of {model.name} on {samples.description} ({analysis.train_samples} fine-tuning "
        f"samples, {analysis.max_layers} layers) ...")
    bar = progress_bar(candidate_count(parse_tflite(model.tflite), analysis), "contribution analysis", no_progress)
    bar.unit = "candidate"
    started, cpu_started = time.monotonic(), _cpu_seconds()
    try:
        table = analyse(model.tflite, samples.x, samples.y, analysis, lambda advance, text: bar.update(advance))
    finally:
        bar.close()
    seconds, cpu = round(time.monotonic() - started, 1), round(_cpu_seconds() - cpu_started, 1)
    say(f"contribution analysis: {seconds} s ({cpu} CPU seconds)")
    return table, seconds, cpu


def _cpu_seconds() -> float:
    """User and system seconds of this process and of its children that have ended (the
    analysis's worker pool has ended when analyse returns)."""
    import resource

    return sum(usage.ru_utime + usage.ru_stime for usage in (resource.getrusage(resource.RUSAGE_SELF),
                                                            resource.getrusage(resource.RUSAGE_CHILDREN)))


def _budget_row(settings: BenchPlanSettings, model, graph, table, data: str, budget: int, train_count: int,
                runs, say, samples, analysis) -> BudgetRow:
    from quantize.errors import PlanError
    from quantize.planning.planner import DEFAULT_LR, PlanRequest, plan_within

    from host_tools.targets import get_target

    request = PlanRequest(budget, settings.board, seed=settings.seed, time_budget=settings.search_seconds,
                          lr=DEFAULT_LR, epochs=settings.epochs, data=data, ram=get_target(settings.board).ram_budget_bytes)
    started = time.monotonic()
    try:
        outcome = plan_within(table, graph, model.name, train_count, request, samples, analysis)
    except PlanError as err:
        say(str(err))
        return BudgetRow(budget, False, str(err), time.monotonic() - started)
    seconds = time.monotonic() - started
    plan, best = outcome.plan, outcome.result.best
    row = BudgetRow(budget, True, None, seconds, plan_summary(plan, table.head), round(best.gain, 4), best.peak,
                    None, best.instructions, plan_file=plan.to_dict())
    say(f"budget {budget} bytes: {row.plan} (search {seconds:.1f} s); on the device ...")
    measured = runs.measure(plan)
    row.measured_peak_sram_bytes = measured.peak_sram_bytes
    row.measured_instructions_per_step = measured.instructions_per_step
    row.accuracy_before = measured.accuracy_before
    row.device_accuracy = measured.accuracy
    row.golden_accuracy = measured.golden_accuracy
    row.golden_bit_exact = measured.golden_bit_exact
    row.device_error = measured.error
    for name, simple in zip(SIMPLE_PLANS, simple_plans(graph, table.head, plan)):
        row.simple.update(_simple_columns(name, simple, graph, model.name, budget, settings.board, runs))
    return row


def simple_plans(graph, head: int, template) -> tuple:
    """(the head alone, the biases of every parametric layer plus the head), with `template`'s
    schedule, epochs and budget at the planner's default rate (the searched plan's own rate is the
    one the golden reference chose for it, planner.choose_device_lr)."""
    from quantize.planning.planner import DEFAULT_LR
    from quantize.planning.contribution import has_bias
    from quantize.training_plan import PARAMETRIC_OPS, PlannedLayer

    head_layer = PlannedLayer(head, True, has_bias(graph, head))
    biases = tuple(PlannedLayer(op.index, False, True) for op in reversed(graph.operators[:head])
                   if op.op in PARAMETRIC_OPS and has_bias(graph, op.index))
    common = dict(predicted=None, description=None, lr=DEFAULT_LR)
    return (replace(template, layers=(head_layer,), name="head-only", source="the head alone", **common),
            replace(template, layers=(head_layer, *biases), name="biases-plus-head",
                    source="the biases of every layer plus the head", **common))


def _simple_columns(name: str, plan, graph, model_name: str, budget: int, board: str, runs) -> dict:
    """A simple plan's columns: fits by the memory model, its predicted peak, and on the device
    (ref) its accuracy and whether the golden reference agreed."""
    from quantize.errors import PlanError
    from quantize.lower import lower_graph, step_sram

    columns = {f"{name}_{key}": None for key in SIMPLE_COLUMNS}
    try:
        peak = step_sram(lower_graph(graph, model_name, plan=plan, budget=budget, board=board), board)
    except PlanError as err:
        columns.update({f"{name}_fits": False, f"{name}_note": str(err)})
        return columns
    columns.update({f"{name}_fits": peak <= budget, f"{name}_predicted_peak_sram_bytes": peak})
    if peak > budget:
        columns[f"{name}_note"] = f"does not fit: predicted peak {peak} bytes"
    elif runs.measures_accuracy:
        measured = runs.measure(plan)
        columns.update({f"{name}_device_accuracy": measured.accuracy,
                        f"{name}_golden_bit_exact": measured.golden_bit_exact, f"{name}_note": measured.error})
    return columns


class _DeviceRuns:
    """Runs plans on the emulated board, once per distinct blob and learning rates (a plan that
    lowers to the same blob as one already run gives the same figures: same samples, same seed)."""

    def __init__(self, settings: BenchPlanSettings, model, train, test, say):
        self.settings = settings
        self.model = model
        self.train = train
        self.test = test
        self.say = say
        self.measures_accuracy = MEASURES[model.name] == "accuracy"
        self.done: dict[tuple, DeviceFigures] = {}

    def measure(self, plan) -> DeviceFigures:
        from host_tools.commands.train import run_plan
        from host_tools.protocol.device import HostModel

        steps = len(self.train) * self.settings.epochs
        plan = run_plan(plan, None, "cosine", steps)
        model = HostModel(self.model.name, self.model.tflite, self.model.origin, plan)
        key = (zlib.crc32(model.blob), len(model.blob), plan.lr, plan.lr_schedule, plan.qas)
        if key not in self.done:
            self.done[key] = self._run(model, plan)
        else:
            self.say(f"{plan.source}: the same blob and rates as a plan already run, figures reused")
        return self.done[key]

    def _run(self, model, plan) -> DeviceFigures:
        """The plan's figures; a firmware that does not build (the linker's RAM region is not the
        memory model's) or a device that fails is the row's finding, not the end of a long benchmark."""
        from host_tools.errors import McutrainError
        from quantize.errors import PlanError

        try:
            return self._accuracy_run(model, plan) if self.measures_accuracy else self._cost_run(model)
        except (McutrainError, PlanError) as err:
            self.say(f"{plan.source}: not run on the device: {err}")
            return DeviceFigures(error=str(err))

    def _accuracy_run(self, model, plan) -> DeviceFigures:
        from host_tools.device_training import agreement_line, run_on_emulator

        self.say(f"{plan.source}: training on {self.settings.board}")
        run = run_on_emulator(self.settings.board, model, self.train, self.test, plan, self.settings.epochs,
                              self.settings.seed, True, self.say)
        self.say(agreement_line(run))
        return DeviceFigures(run.peak_sram_bytes, int(np.mean(run.instructions)), run.before.accuracy,
                             run.after.accuracy, run.golden_accuracy, run.bit_exact)

    def _cost_run(self, model) -> DeviceFigures:
        from host_tools.bench_train import bench_train

        self.say(f"{model.plan.source}: a few training steps on {self.settings.board} (bench train)")
        figures = bench_train(self.settings.board, model)
        return DeviceFigures(figures["peak_sram_bytes"], figures["instructions_per_step"])


def plan_summary(plan, head: int) -> str:
    """The plan's layers in one line: "head + W20 1/2 r2 + W19 + biases of 3 layers"."""
    parts = ["head"] if any(layer.op == head for layer in plan.layers) else []
    for layer in plan.layers:
        if layer.op == head or not layer.weights:
            continue
        channels = layer.to_dict().get("channels")  # "1/2", or a list of indices; absent: all
        text = f"W{layer.op}" + ("" if channels is None else f" {channels}" if isinstance(channels, str)
                                 else f" {len(channels)}ch")
        parts.append(text + (f" r{layer.gradient_filter}" if layer.gradient_filter > 1 else ""))
    biases = sum(1 for layer in plan.layers if layer.op != head and layer.bias and not layer.weights)
    if biases:
        parts.append(f"biases of {biases} layer{'s' if biases > 1 else ''}")
    return " + ".join(parts)


# -- data ------------------------------------------------------------------------------------------

def _data(settings: BenchPlanSettings, scratch: Path) -> tuple[str, str | None]:
    """(the --data string the planner and the device use, a note saying where it came from)."""
    if settings.data:
        return settings.data, None
    if settings.model == "ref":
        return REF_DATA, None
    train = max(settings.samples + max(1, settings.samples // 2), settings.limit)
    path = two_class_npz(scratch / "fashion-mnist-0-1.npz", train, settings.test_limit)
    return f"npz:{path}", (f"{settings.model} has 2 classes: planning on Fashion-MNIST classes {TWO_CLASSES} "
                           f"(the first {train} train and {settings.test_limit} test images), written to npz:{path}")


def two_class_npz(path: Path, train: int, test: int) -> Path:
    """An .npz (datasets/user.py load_npz) of the first `train` / `test` images of Fashion-MNIST's
    classes TWO_CLASSES, relabelled 0 and 1, official split kept."""
    from mcutrain_datasets import load_dataset

    source = load_dataset(TWO_CLASS_SOURCE)
    arrays = {}
    for split, count in (("", train), ("_test", test)):
        x, y = (source.x_train, source.y_train) if not split else (source.x_test, source.y_test)
        keep = np.flatnonzero(np.isin(y, TWO_CLASSES))[:count]
        arrays[f"x{split}"] = np.round(x[keep, ..., 0] * 255).astype(np.uint8)
        arrays[f"y{split}"] = np.searchsorted(TWO_CLASSES, y[keep]).astype(np.int64)
    np.savez(path, **arrays, class_names=np.array([source.class_names[c] for c in TWO_CLASSES]))
    return path


# -- outputs ---------------------------------------------------------------------------------------

def write_outputs(folder: Path, report: dict) -> None:
    """bench_plan.json, bench_plan.csv and plan_accuracy.png into `folder`, all or nothing (a
    staging folder beside it, renamed at the end)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        (staging / JSON_FILE).write_text(json.dumps(report, indent=2) + "\n")
        (staging / CSV_FILE).write_text(budgets_csv(report))
        _plot(staging / PLOT_FILE, report)
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def budgets_csv(report: dict) -> str:
    """One row per budget: the scalar columns of the JSON rows (the plan file left out)."""
    rows = [{key: value for key, value in row.items() if key != "plan_file"} for row in report["budgets"]]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["model", "board", *rows[0]], lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({"model": report["model"], "board": report["board"], **row})
    return out.getvalue()


def _plot(path: Path, report: dict) -> None:
    """ref: device accuracy of each plan against the budget; mbv2: predicted and measured peak
    SRAM against the budget."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["budgets"]
    kb = [row["budget_bytes"] / 1024 for row in rows]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    if report["measures"] == "accuracy":
        for key, label, marker in (("device_accuracy", "planned (mcutrain plan)", "o"),
                                   ("head_only_device_accuracy", "head only", "s"),
                                   ("biases_plus_head_device_accuracy", "biases of all layers + head", "^")):
            ax.plot(kb, [_nan(row[key]) for row in rows], marker=marker, label=label)
        before = next((row["accuracy_before"] for row in rows if row["accuracy_before"] is not None), None)
        if before is not None:
            ax.axhline(before, color="grey", linestyle=":", label=f"before training {before:.3f}")
        ax.set_ylim(0, 1)
        ax.set_ylabel("device accuracy after training")
        ax.set_title(f"{report['model']} on {report['board']}: accuracy per SRAM budget\n"
                     f"trained on {report.get('train', '-')}, measured on {report.get('test', '-')}", fontsize=9)
    else:
        ax.plot(kb, [_nan(row["predicted_peak_sram_bytes"], 1024) for row in rows], marker="o",
                label="predicted peak (memory model)")
        ax.plot(kb, [_nan(row["measured_peak_sram_bytes"], 1024) for row in rows], marker="x", linestyle="--",
                label="measured peak (device)")
        ax.plot(kb, kb, color="grey", linestyle=":", label="the budget")
        ax.set_ylabel("peak SRAM of a training step (KB)")
        ax.set_title(f"{report['model']} on {report['board']}: peak SRAM per budget")
    for row, x in zip(rows, kb):
        if not row["feasible"]:
            ax.axvline(x, color="red", alpha=0.3, linewidth=6)
    ax.set_xlabel("SRAM budget (KB; a red band: the model cannot fit it)")
    ax.set_xticks(kb)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _nan(value, scale: float = 1.0) -> float:
    return float("nan") if value is None else value / scale
