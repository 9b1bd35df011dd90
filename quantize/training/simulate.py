"""A whole training run simulated by the golden reference: the same samples in the same order,
with the same learning rates (schedule.py) and seed as the host sends the device, so a device run
can be checked step by step and its final parameters byte by byte."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from quantize.tflite_model import parse_tflite
from quantize.training.program import derive_program
from quantize.training.schedule import segment_rate
from quantize.training.step import GoldenTrainer, trainable_region
from quantize.training_plan import TrainingPlan


@dataclass
class SimulatedRun:
    losses_q16: np.ndarray   # int64 [steps]
    predicted: np.ndarray    # int64 [steps]
    region: bytes            # the trainable region after the last step
    trainer: GoldenTrainer   # holding the trained parameters


def simulate_training(tflite: bytes, plan: TrainingPlan, layout: list[tuple[int, int, int]], region_size: int,
                      x: np.ndarray, y: np.ndarray, order: np.ndarray, lr_at: Callable[[int], float], seed: int,
                      qas: bool = True, gradient_filter: bool = True) -> SimulatedRun:
    """Steps over x[order], y[order] as the device does (host_tools/commands/train.py train_on_device),
    the plan's gradient filters on or off as SET_CONFIG's flag says."""
    graph = parse_tflite(tflite)
    trainer = GoldenTrainer(graph, derive_program(graph, plan, qas), 1)
    trainer.configure(seed, gradient_filter)
    losses, predicted = [], []
    for step, index in enumerate(order):
        result = trainer.step(x[index], int(y[index]), segment_rate(lr_at, step))
        losses.append(result.loss_q16)
        predicted.append(result.predicted)
    region = trainable_region(layout, region_size, trainer.params, graph)
    return SimulatedRun(np.asarray(losses), np.asarray(predicted), region, trainer)


def golden_accuracy(trainer: GoldenTrainer, x: np.ndarray, y: np.ndarray) -> float:
    """Accuracy of the golden model with its trained parameters (argmax of the logits, as INFER)."""
    correct = sum(int(np.argmax(trainer.infer(sample)) == int(label)) for sample, label in zip(x, y))
    return correct / len(y) if len(y) else 0.0


def golden_fit_accuracy(graph, plan: TrainingPlan, x: np.ndarray, y: np.ndarray, x_held: np.ndarray,
                        y_held: np.ndarray) -> float:
    """Held-out accuracy of the golden reference after training `plan` on x, y one sample a step
    at plan.lr_at(step) (the device's arithmetic and QAS as the plan says): the planner's checks
    of a candidate and of a rate."""
    trainer = GoldenTrainer(graph, derive_program(graph, plan, plan.qas), 1)
    for step, (sample, label) in enumerate(zip(x, y)):
        trainer.step(sample, int(label), plan.lr_at(step))
    return golden_accuracy(trainer, x_held, y_held)
