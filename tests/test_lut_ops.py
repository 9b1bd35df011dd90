"""LOGISTIC, TANH and HARD_SWISH (quantize/ops/lut.py) agree with TFLite Micro on every int8 input.

The blob runs them as a 256-entry table the host computes from its golden integer kernel, so the
device is as exact as the table: here each op, converted by the real TFLite converter with
calibration ranges from narrow (no saturation) to wide (most inputs saturate), runs all 256 input
values through the TFLite Micro interpreter and the golden reference. The zoo models act07..act09
(tests/model_zoo.py) check the device's lookup against TFLM in whole models."""

from __future__ import annotations

import numpy as np
import pytest

from quantize.convert import convert_keras_to_int8
from quantize.golden import run_output
from quantize.tflite_model import parse_tflite

# (low, high) of the float calibration data: the input scale and zero point the converter picks.
RANGES = ((-0.25, 0.25), (-1.0, 2.0), (-6.0, 1.0), (-40.0, 40.0))


@pytest.mark.parametrize("activation, op", [("sigmoid", "LOGISTIC"), ("tanh", "TANH"), ("hard_swish", "HARD_SWISH")])
@pytest.mark.parametrize("low, high", RANGES)
def test_every_int8_input_gives_tflite_micros_output(activation, op, low, high):
    import keras
    from tflite_micro.python.tflite_micro import runtime

    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((256,)), keras.layers.Activation(activation)])
    calibration = np.random.default_rng(0).uniform(low, high, (32, 256)).astype(np.float32)
    tflite = convert_keras_to_int8(model, calibration)
    graph = parse_tflite(tflite)
    assert [o.op for o in graph.operators] == [op]
    x = np.arange(-128, 128, dtype=np.int8)[None]
    interpreter = runtime.Interpreter.from_bytes(tflite)
    interpreter.set_input(x, 0)
    interpreter.invoke()
    expected = interpreter.get_output(0).reshape(-1)
    got = run_output(graph, x).reshape(-1)
    assert np.array_equal(got, expected), f"first mismatch at input {int(np.argmax(got != expected)) - 128}"
