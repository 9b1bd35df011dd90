"""TFLite Micro's reference interpreter (the tflite-micro package) as the forward pass's oracle: the
firmware, the golden model and the conformance bench are all compared with what it outputs."""

from __future__ import annotations

import numpy as np


def tflm_outputs(tflite: bytes, x_int8: np.ndarray) -> np.ndarray:
    """The int8 model's first output for each int8 input of x_int8 [N, ...] (batch 1 each), stacked
    as int8 [N, ...the output's shape without its batch]."""
    from tflite_micro.python.tflite_micro import runtime

    interpreter = runtime.Interpreter.from_bytes(tflite)
    outputs = []
    for sample in x_int8:
        interpreter.set_input(sample[None, ...], 0)
        interpreter.invoke()
        outputs.append(np.asarray(interpreter.get_output(0))[0].copy())
    return np.stack(outputs).astype(np.int8)
