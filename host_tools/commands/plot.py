"""`mcutrain plot METRICS.csv -o curve.png`: loss and accuracy curves of a train or eval CSV."""

from __future__ import annotations

import csv
from pathlib import Path

from host_tools.errors import McutrainError


def register(subparsers) -> None:
    parser = subparsers.add_parser("plot", help="draw the loss and accuracy curves of a metrics CSV")
    parser.add_argument("csv", type=Path, metavar="METRICS.csv", help="written by mcutrain train or eval")
    parser.add_argument("-o", "--output", type=Path, default=Path("curve.png"), help="image file (default curve.png)")
    parser.set_defaults(func=run)


def read_curves(path: Path) -> dict[str, list[float]]:
    if not path.is_file():
        raise McutrainError(f"metrics file {path} does not exist")
    with path.open(newline="") as file:
        rows = list(csv.DictReader(file))
    if not rows or "running_accuracy" not in rows[0]:
        raise McutrainError(f"{path} has no running_accuracy column: not written by mcutrain train or eval")
    curves = {"step": [float(row["step"]) for row in rows],
              "running_accuracy": [float(row["running_accuracy"]) for row in rows]}
    if "running_loss" in rows[0]:
        curves["running_loss"] = [float(row["running_loss"]) for row in rows]
    return curves


def run(args) -> int:
    steps = draw_curves(args.csv, args.output, args.csv.name)
    print(f"wrote {args.output} ({steps} steps)")
    return 0


def draw_curves(path: Path, output: Path, title: str) -> int:
    """Draws the running loss and accuracy of metrics CSV `path` into `output`; returns the steps drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = read_curves(path)
    panels = [key for key in ("running_loss", "running_accuracy") if key in curves]
    fig, axes = plt.subplots(len(panels), 1, figsize=(7, 2.8 * len(panels)), sharex=True, squeeze=False)
    for ax, key in zip(axes[:, 0], panels):
        ax.plot(curves["step"], curves[key], linewidth=1.2)
        ax.set_ylabel(key.replace("_", " "))
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("step")
    fig.suptitle(title)
    fig.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=120)
    plt.close(fig)
    return len(curves["step"])
