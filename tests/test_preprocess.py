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


@pytest.mark.parametrize("channels", [2, 6, 16])
def test_multichannel_images_are_fitted_plane_by_plane(channels):
    x = np.random.default_rng(channels).uniform(0, 1, (2, 6, 6, channels)).astype(np.float32)
    padded = fit_images(x, (8, 8, channels), "pad")
    assert padded.shape == (2, 8, 8, channels) and np.array_equal(padded[:, 1:7, 1:7], x)
    resized = fit_images(x, (12, 12, channels))
    assert resized.shape == (2, 12, 12, channels)
    # Each plane is resized on its own: a constant plane stays constant.
    x[..., -1] = 0.5
    assert np.allclose(fit_images(x, (12, 12, channels))[..., -1], 0.5, atol=1e-6)


@pytest.mark.parametrize("have, want", [(2, 6), (6, 2), (1, 6), (3, 16), (16, 3)])
def test_channels_other_than_grey_and_rgb_must_match_the_model(have, want):
    x = np.zeros((1, 4, 4, have), np.float32)
    with pytest.raises(DatasetError, match=rf"^npz:imu\.npz: samples have shape \(4, 4, {have}\), the model's input is "
                                           rf"\(4, 4, {want}\): {have} channels cannot become {want}"):
        to_model_float(x, ModelInput((4, 4, want)), where="npz:imu.npz")


@pytest.mark.parametrize("shape", [(1, 32, 6), (4, 4, 2), (2, 3, 16)])
def test_float_features_are_the_model_input_as_they_are(shape):
    """No fitting, no [0, 1] clip, no pixel scale: the values the file holds, then int8 with the
    model's input quantization (a clamp at the int8 range, as the host reference and device)."""
    features = np.random.default_rng(0).normal(0.0, 30.0, (5, *shape)).astype(np.float32)
    model_input = ModelInput(shape, scale=2.0, offset=-1.0)  # a pixel scale does not apply to features
    assert np.array_equal(to_model_float(features, model_input, images=False), features)
    quantization = InputQuantization(0.25, 3)
    q = preprocess_int8(features, model_input, quantization, images=False)
    assert np.array_equal(q, quantize_int8(features, quantization))
    assert q.min() == -128 and q.max() == 127  # features beyond the input range clamp, they are not refused


def test_float_features_of_another_shape_are_refused_not_resized():
    with pytest.raises(DatasetError, match=r"^npz:s\.npz: float samples have shape \(1, 30, 6\), the model's input is "
                                           r"\(1, 32, 6\): float features are taken as they are"):
        to_model_float(np.zeros((2, 1, 30, 6), np.float32), ModelInput((1, 32, 6)), images=False, where="npz:s.npz")
    with pytest.raises(DatasetError, match=r"float samples have shape \(4, 4, 1\), the model's input is \(4, 4, 3\)"):
        to_model_float(np.zeros((2, 4, 4, 1), np.float32), ModelInput((4, 4, 3)), images=False)


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
