"""Preprocessing shared by host and device: fit, scale, quantize; the int8 bytes are the model's."""

from __future__ import annotations

import numpy as np
import pytest

from mcutrain_datasets import DatasetError
from mcutrain_datasets.preprocess import (
    InputQuantization,
    ModelInput,
    dequantize_int8,
    fit_images,
    preprocess_int8,
    quantize_int8,
    read_input_quantization,
    to_model_float,
)
from quantize.models import load_reference_model


def test_pad_centres_the_image():
    x = np.ones((2, 8, 8, 1), np.float32)
    padded = fit_images(x, (12, 13, 1), "pad")
    assert padded.shape == (2, 12, 13, 1)
    assert padded[:, 2:10, 2:10].min() == 1.0 and padded.sum() == 2 * 64
    assert padded[:, :2].max() == 0.0 and padded[:, :, 10:].max() == 0.0


def test_pad_refuses_larger_images():
    with pytest.raises(DatasetError, match=r"images are 30x30, larger than the model input 28x28"):
        fit_images(np.zeros((1, 30, 30, 1)), (28, 28, 1), "pad")


def test_resize_keeps_range_and_constant_images():
    x = np.full((3, 8, 8, 1), 0.25, np.float32)
    resized = fit_images(x, (28, 20, 1))
    assert resized.shape == (3, 28, 20, 1) and np.allclose(resized, 0.25, atol=1e-6)


def test_channel_conversion():
    grey = np.random.default_rng(0).uniform(0, 1, (2, 4, 4, 1)).astype(np.float32)
    rgb = fit_images(grey, (4, 4, 3))
    assert rgb.shape == (2, 4, 4, 3) and np.array_equal(rgb[..., 0], rgb[..., 2])
    assert np.allclose(fit_images(rgb, (4, 4, 1)), grey, atol=1e-6)  # luma weights sum to 1


def test_scale_is_applied_after_fitting():
    model_input = ModelInput(shape=(2, 2, 3), scale=2.0, offset=-1.0)
    x = to_model_float(np.array([[[[0.0], [1.0]], [[0.5], [0.25]]]], np.float32), model_input)
    assert x.shape == (1, 2, 2, 3) and x.dtype == np.float32
    assert np.allclose(x[0, :, :, 0], [[-1.0, 1.0], [0.0, -0.5]])


@pytest.mark.parametrize("quantization", [InputQuantization(1 / 255, -128), InputQuantization(0.0078125, 0)])
def test_quantize_dequantize_round_trip_within_half_a_step(quantization):
    low = quantization.scale * (-128 - quantization.zero_point)
    high = quantization.scale * (127 - quantization.zero_point)
    x = np.random.default_rng(0).uniform(low, high, 10000).astype(np.float32)
    q = quantize_int8(x, quantization)
    assert q.dtype == np.int8
    error = np.abs(dequantize_int8(q, quantization) - x)
    assert error.max() <= quantization.scale / 2 * (1 + 1e-5)


def test_quantize_rounds_half_away_from_zero_and_clamps():
    q = InputQuantization(1.0, 0)
    assert quantize_int8(np.array([0.5, -0.5, 1.5, -2.5, 300.0, -300.0]), q).tolist() == [1, -1, 2, -3, 127, -128]


def test_int8_input_is_exactly_what_the_tflm_interpreter_takes():
    """The committed ref model: preprocess_int8 uses the .tflite's own input quantization, the TFLM
    interpreter's input tensor holds exactly those bytes, and the int8 model fed them predicts what
    the float model predicts from the float images (a wrong scale or zero point would break that)."""
    from tflite_micro.python.tflite_micro import runtime

    from mcutrain_datasets import load_dataset
    from quantize.models.artifacts import int8_predictions_tflm, tflite_stats

    ref = load_reference_model("ref")
    tflite = ref.tflite_bytes()
    quantization = read_input_quantization(tflite)
    stats = tflite_stats(tflite)
    assert (stats.input_scale, stats.input_zero_point) == (pytest.approx(quantization.scale), quantization.zero_point)
    assert ref.manifest["input_quantization"] == {"scale": quantization.scale, "zero_point": quantization.zero_point}

    images = load_dataset("mnist5k", test_limit=50).x_test
    x_int8 = preprocess_int8(images, ref.model_input, quantization)
    assert x_int8.shape == (50, 28, 28, 1) and x_int8.dtype == np.int8
    # [0, 1] pixels with scale 1/255 and zero point -128 are exactly pixel - 128.
    assert np.array_equal(x_int8.astype(np.int16), np.round(images * 255).astype(np.int16) - 128)

    interpreter = runtime.Interpreter.from_bytes(tflite, intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors)
    interpreter.set_input(x_int8[:1], 0)
    interpreter.invoke()
    input_tensor = interpreter.GetTensor(stats.input_tensor, 0)["tensor_data"]
    assert input_tensor.dtype == np.int8 and input_tensor.tobytes() == x_int8[:1].tobytes()

    float_top1 = ref.keras_model().predict(images, verbose=0).argmax(-1)
    int8_top1 = int8_predictions_tflm(tflite, x_int8)
    assert np.mean(float_top1 == int8_top1) >= 0.9


def test_read_input_quantization_errors(tmp_path):
    with pytest.raises(DatasetError, match=r"model\.tflite: file not found"):
        read_input_quantization(tmp_path / "model.tflite")
    with pytest.raises(DatasetError, match=r"not a readable \.tflite model"):
        read_input_quantization(b"definitely not a flatbuffer")
