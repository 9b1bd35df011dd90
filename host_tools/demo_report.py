"""The demo's report folder, written all or nothing: the per-step metrics CSV fills a staging folder
beside the target while the device trains; summary.json and the plots join it at the end, and only
then does it take the target's name. A run that fails or is interrupted leaves no folder (and an
earlier complete report in place).

    summary.json   the summary (host_tools/demo.py)
    metrics.csv    one row per training step (mcutrain train's columns)
    curves.png     running loss and accuracy over the steps
    memory.png     the measured peak SRAM by part (firmware static data, stack, arena, trainable
                   copy) against the budget
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from host_tools.errors import McutrainError
from host_tools.protocol.metrics import TRAIN_COLUMNS, MetricsCsv

FILES = ("summary.json", "metrics.csv", "curves.png", "memory.png")


class ReportFolder:
    """with ReportFolder(path) as report: ... report.metrics (a MetricsCsv) ... report.finish(summary)"""

    def __init__(self, path: Path):
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise McutrainError(f"--report {self.path}: exists and is not a folder")
        self._staging: Path | None = None
        self.metrics: MetricsCsv | None = None

    def __enter__(self) -> "ReportFolder":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._staging = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.partial-", dir=self.path.parent))
        self.metrics = MetricsCsv(self._staging / "metrics.csv", TRAIN_COLUMNS)
        return self

    def finish(self, summary: dict) -> None:
        """Completes the folder and gives it its name (replacing an earlier report)."""
        from host_tools.commands.plot import draw_curves

        self.metrics.close()
        (self._staging / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        draw_curves(self._staging / "metrics.csv", self._staging / "curves.png",
                    f"{summary['model']} trained on {summary['board']}: {summary['data']}")
        draw_memory(summary, self._staging / "memory.png")
        if self.path.exists():
            shutil.rmtree(self.path)
        self._staging.rename(self.path)
        self._staging = None

    def __exit__(self, *exc) -> None:
        if self.metrics is not None:
            self.metrics.close()
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)


def draw_memory(summary: dict, output: Path) -> None:
    """One stacked bar of the measured peak SRAM by part, against the budget and the board's RAM."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    parts = [("firmware static data", summary["memory"]["firmware_static_bytes"]),
             ("stack (high water)", summary["memory"]["stack_bytes"]),
             ("arena (activations, errors, scratch)", summary["memory"]["arena_bytes"]),
             ("trainable parameters (SRAM copy)", summary["memory"]["trainable_bytes"])]
    fig, ax = plt.subplots(figsize=(7, 2.6))
    left = 0
    for (name, size), colour in zip(parts, ("#999999", "#e3a33b", "#3b7be3", "#3bb36b")):
        ax.barh([0], [size / 1024], left=left / 1024, color=colour, label=f"{name}: {size:,} B")
        left += size
    ax.axvline(summary["ram_budget_bytes"] / 1024, color="red", linestyle="--",
               label=f"budget: {summary['ram_budget_bytes']:,} B")
    ax.set_yticks([])
    ax.set_xlabel("KB (1024 bytes)")
    ax.set_xlim(0, max(summary["ram_budget_bytes"], left) / 1024 * 1.05)
    ax.set_title(f"peak SRAM of a training step on {summary['board']}: {summary['peak_sram_bytes']:,} bytes")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.45), ncol=2, fontsize=8, frameon=False)
    fig.savefig(output, dpi=120, bbox_inches="tight")  # the legend sits below the axes
    plt.close(fig)
