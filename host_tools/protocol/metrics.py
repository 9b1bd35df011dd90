"""Per-step metrics of `mcutrain train` / `eval`: running figures, a CSV writer and the progress bar."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

TRAIN_COLUMNS = ("epoch", "step", "sample", "label", "predicted", "correct", "loss", "running_loss",
                 "running_accuracy", "instructions")
EVAL_COLUMNS = ("step", "sample", "label", "predicted", "correct", "running_accuracy", "instructions")


@dataclass
class Running:
    """Mean loss and accuracy over the steps so far."""

    steps: int = 0
    correct: int = 0
    loss_sum: float = 0.0

    def add(self, correct: bool, loss: float = 0.0) -> None:
        self.steps += 1
        self.correct += int(correct)
        self.loss_sum += loss

    @property
    def accuracy(self) -> float:
        return self.correct / self.steps if self.steps else 0.0

    @property
    def loss(self) -> float:
        return self.loss_sum / self.steps if self.steps else 0.0


class MetricsCsv:
    """A CSV file with one row per step, flushed as it goes (a run cut short keeps its rows)."""

    def __init__(self, path: Path, columns: tuple[str, ...]):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("w", newline="")
        self._writer = csv.DictWriter(self._file, fieldnames=columns)
        self._writer.writeheader()

    def write(self, **row) -> None:
        self._writer.writerow(row)
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "MetricsCsv":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def instructions(ticks: int, counter_hz: int, emulated: bool) -> int:
    """Counter ticks as instructions under QEMU -icount (1 ns each), as cycles on silicon."""
    if emulated and counter_hz:
        return int(round(ticks * 1e9 / counter_hz))
    return ticks


def progress_bar(total: int, desc: str, disabled: bool) -> tqdm:
    """samples/s from tqdm's rate; callers add running loss and accuracy with set_postfix(refresh=False)
    before update(), so the bar redraws at tqdm's throttled rate rather than once per step."""
    return tqdm(total=total, desc=desc, unit="sample", disable=disabled, dynamic_ncols=True, leave=False)
