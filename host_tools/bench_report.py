"""Markdown tables and PNG plots of a `mcutrain bench all` results file (bench_all.json).

report.md (render_report) and README.md's generated results (host_tools/readme_results.py) are
both made of the pieces below, so a figure reads the same in both. Every number comes from the
results dict; a sub-benchmark that failed is shown with its one-line error instead of figures.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from host_tools.bench_all import MBV2, MODELS

LAYERS_PLOT = "layers-{model}.png"
MEMORY_PLOT = "memory-{model}.png"
PLAN_FOLDER = "plan-{model}"          # bench plan's own outputs (bench_plan.json, .csv, plan_accuracy.png)
PUBLISHED_LABEL = "published (not measured here)"


# -- cells -----------------------------------------------------------------------------------------

def integer(value) -> str:
    return "-" if value is None else f"{value:,}"


def percent(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def kilobytes(value) -> str:
    return "-" if value is None else f"{value / 1024:.1f} KB"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def result(report: dict, key: str) -> dict | None:
    record = report["runs"].get(key)
    return record.get("result") if record else None


def figures_table(report: dict, key: str, render) -> str:
    """render(figures) of the sub-benchmark `key`, or the line saying why it has none."""
    figures = result(report, key)
    return failure(report, key) if figures is None else render(figures)


def of_run(run: str):
    """Makes a table of one run's figures, render(figures), into table(report, model) of the
    model's `{model}/{run}` sub-benchmark (figures_table)."""
    def wrap(render):
        @functools.wraps(render)
        def table_of(report: dict, model: str) -> str:
            return figures_table(report, f"{model}/{run}", render)
        return table_of
    return wrap


def failure(report: dict, key: str) -> str | None:
    """The line shown in place of a sub-benchmark's figures when it failed or did not run."""
    record = report["runs"].get(key)
    if record is None:
        return f"`{key}` was not run."
    if "error" in record:
        return f"`{key}` failed: {record['error']}"
    return None


# -- sections --------------------------------------------------------------------------------------

def run_line(report: dict) -> str:
    """Which command, on what machine, when, and at which settings."""
    machine, git, settings = report["machine"], report["git"], report["settings"]
    commit = (git["commit"] or "unknown")[:12] + (" with uncommitted changes" if git["dirty"] else "")
    return (f"Measured by `{report['command']}` on {report['date']} (commit {commit}), on {report['board']} under "
            f"QEMU on a {machine['nproc']}-CPU machine ({machine['cpu'] or 'CPU unknown'}, {machine['uname']}; "
            f"load average {machine['load_average_at_start']} at the start, "
            f"{machine.get('load_average_at_end', '-')} at the end), {report['wall_seconds'] / 60:.0f} minutes in "
            f"all. Settings: each device run trains on {settings['limit']:,} samples for {settings['epochs']} "
            f"epoch(s) and is measured on {settings['test_limit']:,}; the contribution analysis fine-tunes on "
            f"{settings['samples']} samples over {settings['layers']} layers; each search stops after "
            f"{settings['search_seconds']:g} s; seed {settings['seed']}. Instruction counts are QEMU -icount "
            f"counts (deterministic); seconds are wall-clock on this shared machine.")


def runs_table(report: dict) -> str:
    rows = []
    for key, record in report["runs"].items():
        outcome = f"**failed**: {record['error']}" if "error" in record else "ok"
        rows.append([f"`{key}`", record["what"], f"{record['seconds']:.0f}", outcome])
    return table(["run", "what", "wall s", "outcome"], rows)


def memory_table(report: dict, model: str) -> str:
    rows = report["memory"][model]
    full = rows[0]["peak_sram_bytes"]
    out = []
    for row in rows:
        if row["peak_sram_bytes"] is None:
            out.append([row["label"], row["plan"] or "-", "-", f"not available: {row['error']}", "-"])
            continue
        ratio = f"{full / row['peak_sram_bytes']:.1f}x" if full and row is not rows[0] else "-"
        kind = "measured on the device" if row["kind"] == "measured" else "predicted (memory model)"
        out.append([row["label"], row["plan"] or "-", f"{row['peak_sram_bytes']:,} B", kind, ratio])
    if model == MBV2:
        for figure in report["published"]:
            if figure["bytes"] or "full update" in figure["figure"]:
                out.append([f"TTE: {figure['figure']}", "-", figure["value"], PUBLISHED_LABEL, "-"])
    return table(["way of training", "plan", "peak SRAM of a step", "figure", "full update / this"], out)


@of_run("forward")
def forward_table(figures: dict) -> str:
    total, conv = figures["total"], figures["conv_and_depthwise"]
    return table(["MACs", "instructions", "instr/MAC (all)", "instr/MAC (conv + depthwise)", "peak arena"],
                 [[integer(total["macs"]), integer(total["instructions"]), total["instr_per_mac"],
                   conv["instr_per_mac"], f"{total['peak_arena_bytes']:,} B"]])


def train_table(report: dict, model: str) -> str:
    rows = []
    for key in [key for key in report["runs"] if key.startswith(f"{model}/train/")]:
        figures = result(report, key)
        if figures is not None and key.endswith("/bias-only"):
            figures = figures["train"]
            if figures is None:
                continue  # did not fit the board: the memory comparison shows its predicted peak
        plan = key.rsplit("/", 1)[1]
        if figures is None:
            rows.append([f"`{plan}`", failure(report, key), *["-"] * 8])
            continue
        filters = sorted({layer["gradient_filter"] for layer in figures["layers"] if layer["weights"]} - {1})
        rows.append([f"`{plan}`", f"{integer(figures['peak_sram_bytes'])} B",
                     f"{integer(figures['predicted_peak_sram_bytes'])} B", integer(figures["trainable_bytes"]),
                     ", ".join(map(str, filters)) or "-", integer(figures["kept_input_bytes"]),
                     f"**{integer(figures['instructions_per_step'])}** "
                     f"({integer(figures['predicted_instructions_per_step'])})",
                     " / ".join(integer(figures[k]) for k in ("forward_instructions", "backward_instructions",
                                                               "update_instructions")),
                     f"{integer(figures['backward_macs'])}, {figures['trained_layers_instr_per_mac'] or '-'}"])
    return table(["plan", "peak SRAM measured", "memory model", "trainable bytes", "gradient filter r",
                  "bytes kept for weight gradients", "instructions a step (cost model)",
                  "forward / backward error passes / updates", "backward MACs, instr/MAC of the trained layers"],
                 rows)


def step_layers_table(report: dict, key: str) -> str:
    """One training step's backward, layer by layer (bench train's `layers`)."""
    return figures_table(report, key, _step_layers)


def _step_layers(figures: dict) -> str:
    rows = []
    for layer in figures["layers"]:
        what = ["weights" if layer["weights"] else "", "bias" if layer["bias"] else "",
                f"{layer['channels']} channels" if layer["channels"] else "",
                "error to its input" if layer["input_error"] else "",
                f"r = {layer['gradient_filter']}" if layer["gradient_filter"] > 1 else ""]
        rows.append([layer["op"], layer["kind"], ", ".join(part for part in what if part) or "passes the error on",
                     integer(layer["macs"]), integer(layer["instructions"]), layer["instr_per_mac"] or "-"])
    rows.append(["", "**the step** (as the device counts it)", "", integer(figures["backward_macs"]),
                 f"**{integer(figures['instructions_per_step'])}**", ""])
    return table(["op", "kind", "what it does in the step", "backward MACs", "instructions", "per MAC"], rows)


@of_run("forward")
def forward_ops_table(figures: dict) -> str:
    """One forward pass by op type: how many layers, their MACs and instructions, the range of
    instructions per MAC over them."""
    rows = []
    for op in sorted({layer["op"] for layer in figures["layers"]}):
        layers = [layer for layer in figures["layers"] if layer["op"] == op]
        macs, instructions = sum(layer["macs"] for layer in layers), sum(layer["instructions"] for layer in layers)
        per_mac = [layer["instr_per_mac"] for layer in layers if layer["instr_per_mac"] is not None]
        spread = f"{min(per_mac)} to {max(per_mac)}" if len(set(per_mac)) > 1 else (per_mac[0] if per_mac else "-")
        rows.append([op, len(layers), integer(macs), integer(instructions), spread])
    return table(["op", "layers", "MACs", "instructions", "instr/MAC per layer"], rows)


@of_run("plan")
def plan_table(figures: dict) -> str:
    accuracy = figures["measures"] == "accuracy"
    rows = []
    for row in figures["budgets"]:
        budget = f"{row['budget_bytes'] // 1024} KB"
        if not row["feasible"]:
            rows.append([budget, f"cannot fit: {row['error']}", *["-"] * (7 if accuracy else 4)])
            continue
        cells = [budget, row["plan"], (row["plan_file"] or {}).get("lr", "-"),
                 f"{integer(row['predicted_peak_sram_bytes'])} / {integer(row['measured_peak_sram_bytes'])}",
                 f"{integer(row['predicted_instructions_per_step'])} / "
                 f"{integer(row['measured_instructions_per_step'])}",
                 f"{row['search_seconds']:.0f}" if row["search_seconds"] is not None else "-"]
        if accuracy:
            cells += [f"**{percent(row['device_accuracy'])}**", _simple(row, "head_only"),
                      _simple(row, "biases_plus_head")]
        rows.append(cells)
    header = ["budget", "plan (W: weights and bias; r: gradient filter)", "device rate", "predicted / measured peak",
              "predicted / measured instructions", "search s"]
    header += ["device accuracy", "head alone", "biases + head"] if accuracy else []
    held = figures.get("held_out_accuracy") or {}
    # bench plan writes mbv2's two-class npz to a temporary folder: its name alone says what it is
    data = re.sub(r"npz:\S*/", "npz:", figures.get("train", figures["data"]))
    return (table(header, rows) + f"\n\nContribution analysis {figures['analysis_seconds']} s on "
            f"{data}; the fp32 twin's held-out accuracy {percent(held.get('before'))} "
            f"as it is, {percent(held.get('head_alone'))} with the head trained.")


def _simple(row: dict, name: str) -> str:
    if row[f"{name}_fits"] is False:
        return f"does not fit ({integer(row[f'{name}_predicted_peak_sram_bytes'])} B)"
    return percent(row[f"{name}_device_accuracy"])


@of_run("accuracy")
def accuracy_table(figures: dict) -> str:
    exact = "bit-exact" if figures["golden_bit_exact"] else "NOT bit-exact"
    return table(["run", "test accuracy"], [
        ["before training", percent(figures["accuracy_before"])],
        ["**trained on the device**, QAS", f"**{percent(figures['device_accuracy'])}**"],
        [f"the golden reference's simulation of the same run ({exact})", percent(figures["golden_accuracy"])],
        ["fp32 yardstick: TensorFlow SGD of the same parameters, rates and epochs",
         percent(figures["baseline_fp32_accuracy"])],
        ["trained on the device without QAS", percent(figures["qas_off_device_accuracy"])],
    ]) + (f"\n\nPlan `{figures['plan']}`, lr {figures['learning_rate']}, {figures['epochs']} epoch(s) of "
          f"{figures['samples']:,} {figures['data']} samples, measured on {figures['test_samples']:,}; the step's "
          f"peak SRAM {integer(figures['peak_sram_bytes'])} B, {integer(figures['instructions_per_step'])} "
          f"instructions.")


@of_run("link")
def link_table(figures: dict) -> str:
    names = (("frames_per_s", "frames per second"), ("round_trip_ms", "round trip, ms"),
             ("payload_bytes_per_s", "payload bytes per second"), ("step_wall_ms", "a training step, wall ms"),
             ("link_wall_ms", "of which the link, ms"), ("host_overhead_fraction", "host overhead when pipelined"),
             ("retries", "retries"))
    return table(["link figure", "value"], [[label, figures.get(name, "-")] for name, label in names])


def published_table(report: dict) -> str:
    return table(["figure", PUBLISHED_LABEL, "source"],
                 [[figure["figure"], figure["value"], figure["source"]] for figure in report["published"]])


def image(prefix: str, path: str, alt: str) -> str:
    return f"![{alt}]({prefix}{path})"


def model_sections(report: dict, model: str, prefix: str, notes: dict[str, list[str]] | None = None) -> list[str]:
    """The tables and plots of one model, in the order the report and the README show them;
    notes[section] (paragraphs) follow that section (memory, forward, train, plan, accuracy, link)."""
    notes = notes or {}
    sections = {
        "memory": [f"### `{model}`: peak SRAM of a training step, by what it trains", memory_table(report, model),
                   image(prefix, MEMORY_PLOT.format(model=model), f"peak SRAM of {model}'s training step by plan")],
        "forward": [f"### `{model}`: one forward pass", forward_table(report, model), forward_ops_table(report, model),
                    image(prefix, LAYERS_PLOT.format(model=model), f"instructions per layer of {model}")],
        "train": [f"### `{model}`: one training step per plan (`bench train`)", train_table(report, model)],
        "plan": [f"### `{model}`: plans searched per SRAM budget (`bench plan`)", plan_table(report, model),
                 image(prefix, f"{PLAN_FOLDER.format(model=model)}/plan_accuracy.png", f"bench plan of {model}")],
    }
    if model == MBV2:
        sections["memory"].insert(1, f"`{MBV2}`'s weights are untrained, seeded weights (a reproducible script, "
                                     "not a training run): only memory and speed mean something for it, and no "
                                     "accuracy is measured.")
    detailed = MODELS[model].train_plans[1]
    sections["train"] += [f"One step of `{detailed}`, layer by layer (QEMU instruction counts of the backward "
                          "kernels):", step_layers_table(report, f"{model}/train/{detailed}")]
    if f"{model}/accuracy" in report["runs"]:
        sections["accuracy"] = [f"### `{model}`: accuracy after training on the device (`bench accuracy`)",
                                accuracy_table(report, model)]
    if f"{model}/link" in report["runs"]:
        sections["link"] = [f"### `{model}`: the serial link (`bench link`)", link_table(report, model)]
    return [part for name, section in sections.items() for part in section + notes.get(name, [])]


def render_report(report: dict) -> str:
    """report.md: everything, images beside it."""
    parts = [f"# `mcutrain bench all` on {report['board']}", run_line(report), "## Sub-benchmarks",
             runs_table(report)]
    for model in report["memory"]:
        parts.append(f"## `{model}`")
        parts += model_sections(report, model, "")
    parts += ["## Figures published by the papers (not measured here)", published_table(report)]
    return "\n\n".join(parts) + "\n"


# -- plots -----------------------------------------------------------------------------------------

def write_plots(folder: Path, report: dict) -> None:
    """The memory comparison and per-layer instructions of each model, and bench plan's own
    outputs (its accuracy or peak per budget plot) in a folder per model."""
    from host_tools.bench_plan import write_outputs

    for model in report["memory"]:
        _memory_plot(folder / MEMORY_PLOT.format(model=model), report, model)
        _layers_plot(folder / LAYERS_PLOT.format(model=model), report, model)
        plan = result(report, f"{model}/plan")
        if plan is not None:
            write_outputs(folder / PLAN_FOLDER.format(model=model), plan)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _memory_plot(path: Path, report: dict, model: str) -> None:
    from matplotlib.patches import Patch

    plt = _pyplot()
    bars = [(row["label"], row["peak_sram_bytes"] / 1024, row["kind"]) for row in report["memory"][model]
            if row["peak_sram_bytes"] is not None]
    if model == MBV2:
        bars += [(figure["short"], figure["bytes"] / 1024, "published") for figure in report["published"]
                 if figure["bytes"]]
    styles = {"measured": ("tab:blue", "", "measured on the device"),
              "predicted": ("tab:orange", "//", "predicted (memory model)"),
              "published": ("lightgrey", "..", PUBLISHED_LABEL)}
    fig, ax = plt.subplots(figsize=(11, 0.55 * len(bars) + 1.6))
    for i, (label, kb, kind) in enumerate(bars):
        color, hatch, _ = styles[kind]
        ax.barh(i, kb, color=color, hatch=hatch, edgecolor="black")
        ax.text(kb, i, f" {kb:,.0f} KB", va="center", fontsize=8)
    ax.set_yticks(range(len(bars)), [label for label, _, _ in bars], fontsize=7)
    ax.invert_yaxis()
    handles = [Patch(facecolor=color, hatch=hatch, edgecolor="black", label=label)
               for kind, (color, hatch, label) in styles.items() if any(bar[2] == kind for bar in bars)]
    ram = _board_ram(report, model)
    if ram:
        handles.append(ax.axvline(ram / 1024, color="red", linestyle="--",
                                  label=f"{report['board']}'s RAM ({ram // 1024} KB)"))
    ax.set_xlabel("peak SRAM of one training step (KB)")
    ax.set_title(f"{model} on {report['board']}: peak SRAM by what is trained", fontsize=9)
    ax.legend(handles=handles, fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _board_ram(report: dict, model: str) -> int | None:
    for record in report["runs"].values():
        figures = record.get("result") or {}
        if figures.get("model") == model and figures.get("ram_budget_bytes"):
            return figures["ram_budget_bytes"]
    return None


def _layers_plot(path: Path, report: dict, model: str) -> None:
    """Instructions of each forward layer, coloured by op."""
    from matplotlib.patches import Patch

    plt = _pyplot()
    figures = result(report, f"{model}/forward")
    fig, ax = plt.subplots(figsize=(9, 3.8))
    if figures is None:
        ax.text(0.5, 0.5, failure(report, f"{model}/forward"), ha="center", wrap=True)
    else:
        layers = figures["layers"]
        ops = sorted({layer["op"] for layer in layers})
        colors = {op: plt.get_cmap("tab10")(i % 10) for i, op in enumerate(ops)}
        ax.bar([layer["index"] for layer in layers], [layer["instructions"] / 1e6 for layer in layers],
               color=[colors[layer["op"]] for layer in layers])
        ax.set_xlabel("operator index")
        ax.set_ylabel("instructions (millions)")
        ax.legend(handles=[Patch(color=colors[op], label=op) for op in ops], fontsize=7)
    ax.set_title(f"{model} on {report['board']}: instructions per layer of one forward pass", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

