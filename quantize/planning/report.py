"""What `mcutrain plan` shows and writes: the chosen plan's table, the contribution table as CSV,
and two plots (gain per layer and channel ratio; the chosen plan's memory against the budget)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from quantize.graph import Graph
from quantize.memory_model import FIRMWARE_MEMORY
from quantize.planning.contribution import ContributionTable
from quantize.planning.search import Evaluated
from quantize.training_plan import output_channels

CSV_COLUMNS = ("kind", "op", "layer", "k", "ratio", "gradient_filter", "channels", "accuracy", "gain")
CONTRIBUTION_CSV = "contribution.csv"
GOLDEN_CSV = "golden_check.csv"
GAIN_PLOT = "gain_per_layer.png"
MEMORY_PLOT = "memory.png"


@dataclass(frozen=True)
class PlanRow:
    op: int
    layer: str
    trained: str      # "weights+bias", "weights", "bias"
    channels: str     # "64/128"
    r: int
    params: int       # parameters updated
    bytes: int        # bytes of the trainable copy in SRAM (the whole tensors)
    gain: float | None

    def as_dict(self) -> dict:
        return {"op": self.op, "layer": self.layer, "trained": self.trained, "channels": self.channels,
                "gradient_filter": self.r, "trained_params": self.params, "bytes": self.bytes,
                "gain": None if self.gain is None else round(self.gain, 4)}


def plan_rows(best: Evaluated, table: ContributionTable, graph: Graph) -> list[PlanRow]:
    """One row per planned layer; a layer's gain is its weight contribution (bias-only layers
    share the bias depth's gain, shown once in the summary)."""
    rows = []
    for layer in best.plan.layers:
        op = graph.operators[layer.op]
        c_out = output_channels(graph, layer.op)
        channels = layer.channel_indices(c_out)
        tensors = ([op.inputs[1]] if layer.weights else []) + ([op.inputs[2]] if layer.bias else [])
        per_channel = {t: graph.tensor(t).data.size // c_out for t in tensors}
        params = sum(per_channel.values()) * len(channels)
        nbytes = sum(graph.tensor(t).data.nbytes for t in tensors)
        trained = "+".join(name for name, flag in (("weights", layer.weights), ("bias", layer.bias)) if flag)
        gain = None
        if layer.weights and layer.op != table.head:
            gain = table.weight_gain(layer.op, layer.channels if isinstance(layer.channels, float) else 1.0,
                                     layer.gradient_filter)
        name = graph.tensor(op.outputs[0]).name.split(";")[0]
        rows.append(PlanRow(layer.op, name, trained, f"{len(channels)}/{c_out}", layer.gradient_filter, params,
                            nbytes, gain))
    return rows


def format_table(rows: list[PlanRow]) -> str:
    header = ("op", "layer", "trained", "channels", "r", "params", "bytes", "gain")
    body = [(str(r.op), r.layer[-40:], r.trained, r.channels, str(r.r), str(r.params), str(r.bytes),
             "head" if r.gain is None and r.trained == "weights+bias" and r is rows[0] else
             "-" if r.gain is None else f"{100 * r.gain:+.1f}") for r in rows]
    widths = [max(len(h), *(len(line[i]) for line in body)) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(line, widths)) for line in body]
    return "\n".join(lines)


def contribution_csv(table: ContributionTable) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in table.rows:
        writer.writerow(row.row())
    return out.getvalue()


def golden_csv(table: ContributionTable) -> str:
    out = io.StringIO()
    if table.golden:
        writer = csv.DictWriter(out, fieldnames=list(table.golden[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(table.golden)
    return out.getvalue()


def write_report(folder: Path, table: ContributionTable, best: Evaluated, budget: int, board: str) -> None:
    """CSV files and plots into `folder` (which exists and is empty)."""
    (folder / CONTRIBUTION_CSV).write_text(contribution_csv(table))
    (folder / GOLDEN_CSV).write_text(golden_csv(table))
    _gain_plot(folder / GAIN_PLOT, table)
    _memory_plot(folder / MEMORY_PLOT, best, budget, board)


def _gain_plot(path: Path, table: ContributionTable) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5))
    ops = list(reversed(table.layers))
    for ratio in sorted({c.ratio for c in table.rows if c.kind == "weights"}, reverse=True):
        gains = {c.op: c.gain for c in table.rows if c.kind == "weights" and c.ratio == ratio and c.r == 1}
        ax.plot([str(op) for op in ops], [100 * gains.get(op, float("nan")) for op in ops], marker="o",
                label=f"weights, {ratio:g} of the channels")
    bias = {c.op: c.gain for c in table.rows if c.kind == "bias"}
    ax.plot([str(op) for op in ops], [100 * bias.get(op, float("nan")) for op in ops], marker="s", linestyle="--",
            color="black", label="biases from this layer to the head")
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_xlabel("TFLite operator")
    ax.set_ylabel("accuracy gain over the head alone (points)")
    ax.set_title("Contribution analysis (held-out part of the train split, fp32 twin)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _memory_plot(path: Path, best: Evaluated, budget: int, board: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    firmware = FIRMWARE_MEMORY[board]
    parts = [("firmware static", firmware.static_bytes), ("stack", firmware.stack_bytes),
             ("arena", best.arena_bytes), ("trainable", best.trainable_bytes)]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    left = 0
    for name, size in parts:
        ax.barh(["chosen plan"], [size / 1024], left=left / 1024, label=f"{name} {size / 1024:.1f} KB")
        left += size
    ax.axvline(budget / 1024, color="red", linestyle="--", label=f"budget {budget / 1024:.1f} KB")
    ax.set_xlabel(f"KB of SRAM on {board} (memory model)")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
