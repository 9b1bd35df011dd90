"""The learning rate of each training step, as the host sends it to the device.

The device takes its learning rate from SET_CONFIG. The plan's schedule (TrainingPlan.lr_at) is
applied in segments of SEGMENT_STEPS steps: before step s the host sends the rate of the
segment's first step, when it differs from the one in force. The golden reference and the
benchmarks take the same rates from here, so device and simulation see the same sequence.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

SEGMENT_STEPS = 50
# SET_CONFIG takes a rate in (0, 1]: a schedule that has decayed to 0 keeps this one.
MIN_RATE = float(np.float32(1e-7))


def segment_rate(lr_at: Callable[[int], float], step: int) -> float:
    """The float32 rate in force at `step`: the schedule's rate at its segment's first step."""
    return max(float(np.float32(lr_at(step - step % SEGMENT_STEPS))), MIN_RATE)
