"""The learning rate of each training step, as the host sends it to the device.

The device takes its learning rate from SET_CONFIG. A schedule is applied in segments of
SEGMENT_STEPS steps: before step s the host sends the rate of the segment's first step, when it
differs from the one in force (float32, as SET_CONFIG carries it). The golden reference and the
benchmarks take the same rates from here, so device and simulation see the same sequence.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

SEGMENT_STEPS = 50
SCHEDULES = ("constant", "cosine")


def schedule(kind: str, lr: float, total_steps: int) -> Callable[[int], float]:
    """lr_at(step): `constant`, or `cosine` decay from lr towards 0 over total_steps."""
    if kind not in SCHEDULES:
        raise ValueError(f"learning-rate schedule {kind!r}, expected one of {', '.join(SCHEDULES)}")
    if kind == "constant":
        return lambda step: lr
    return lambda step: lr * 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / max(total_steps, 1)))


def segment_rate(lr_at: Callable[[int], float], step: int) -> float:
    """The float32 rate in force at `step`: the schedule's rate at its segment's first step."""
    return float(np.float32(lr_at(step - step % SEGMENT_STEPS)))
