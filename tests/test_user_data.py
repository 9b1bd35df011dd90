"""A user's own sensor data end to end: a 6-channel time series [N, 32, 6] of float features, a
small Keras 1-D model (Conv2D with (1, k) kernels: Conv1D converts to EXPAND_DIMS, which mcutrain
does not implement), `mcutrain quantize` calibrated on the file, then infer, train and eval on
qemu-m7 agreeing with the host reference; and a transfer set holding only classes 5..9 of a
10-output head, on the device and in the fp32 baseline."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from host_tools import cli

STEPS, CHANNELS, CLASSES = 32, 6, 10


def mcutrain(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def sensor_series(labels: np.ndarray, seed: int) -> np.ndarray:
    """float32 [N, STEPS, CHANNELS]: each class a sine of its own frequency on every channel, phase
    and noise random, offset and amplitude well outside [0, 1] (sensor units, not pixels)."""
    rng = np.random.default_rng(seed)
    t = np.arange(STEPS, dtype=np.float32)
    phase = rng.uniform(0, 2 * np.pi, (len(labels), 1, CHANNELS))
    frequency = (0.15 + 0.12 * labels)[:, None, None]
    wave = 4.0 * np.sin(frequency * t[None, :, None] + phase) - 3.0
    return (wave + rng.normal(0.0, 0.5, wave.shape)).astype(np.float32)


@dataclass(frozen=True)
class UserFiles:
    keras: Path
    series: Path       # 10 classes, 240 samples
    transfer: Path     # classes 5..9 only, 60 samples
    tflite: Path       # written by the quantize test's command


@pytest.fixture(scope="module")
def user_files(tmp_path_factory) -> UserFiles:
    import keras

    folder = tmp_path_factory.mktemp("user-data")
    labels = np.arange(240) % CLASSES
    x = sensor_series(labels, seed=0)
    np.savez(folder / "series.npz", x=x, y=labels)
    transfer = np.repeat(np.arange(5, 10), 12)
    np.savez(folder / "transfer.npz", x=sensor_series(transfer, seed=1), y=transfer)

    keras.utils.set_random_seed(0)
    inputs = keras.Input((1, STEPS, CHANNELS))
    h = keras.layers.Conv2D(8, (1, 5), padding="same", activation="relu")(inputs)
    h = keras.layers.Conv2D(16, (1, 3), strides=(1, 2), padding="same", activation="relu")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)  # MEAN over (H, W)
    model = keras.Model(inputs, keras.layers.Dense(CLASSES)(h))
    model.compile(optimizer=keras.optimizers.Adam(0.01),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x[:, None], labels, epochs=30, batch_size=32, verbose=0)
    model.save(folder / "my.keras")
    return UserFiles(folder / "my.keras", folder / "series.npz", folder / "transfer.npz", folder / "my.tflite")


@pytest.fixture(scope="module")
def quantized(user_files) -> UserFiles:
    """my.tflite, as `mcutrain quantize my.keras --calib npz:series.npz -o my.tflite` writes it."""
    code = cli.main(["quantize", str(user_files.keras), "--calib", f"npz:{user_files.series}",
                     "-o", str(user_files.tflite)])
    assert code == 0 and user_files.tflite.is_file()
    return user_files


def test_quantize_calibrates_on_the_float_features_as_they_are(user_files, capsys):
    out_file = user_files.tflite.with_name("again.tflite")
    code, out, err = mcutrain(capsys, "quantize", str(user_files.keras), "--calib", f"npz:{user_files.series}",
                              "-o", str(out_file))
    assert code == 0, err
    assert out.strip().endswith(f"int8, calibrated on 192 samples of npz:{user_files.series} "
                                "(stratified seed=0 192/48))")
    from mcutrain_datasets.preprocess import read_input_quantization
    from quantize.tflite_model import parse_tflite

    graph = parse_tflite(out_file.read_bytes())
    assert graph.tensor(graph.int8_input).shape == (1, 1, STEPS, CHANNELS)
    # The input range is the features' (about -8..2), not the [0, 1] of pixels (a scale of 1/255).
    quantization = read_input_quantization(out_file)
    assert 8.0 / 255 < quantization.scale < 12.0 / 255


def test_a_pixel_scale_for_float_features_is_refused_and_writes_nothing(user_files, capsys, tmp_path):
    out_file = tmp_path / "scaled.tflite"
    code, _, err = mcutrain(capsys, "quantize", str(user_files.keras), "--calib", f"npz:{user_files.series}",
                            "--scale", "2", "-o", str(out_file))
    assert code == 1 and not out_file.exists()
    assert err.strip() == (f"mcutrain: error: --scale/--offset scale image pixels, but npz:{user_files.series} holds "
                           "float features, which are the model's input as they are: scale them in the file")


def test_the_device_bytes_are_the_features_quantized_and_keep_the_float_models_predictions(quantized):
    """The host sends round(x / s) + z of the file's own values, and the int8 host reference fed
    those bytes predicts what the float Keras model predicts from the file (no scaling in between)."""
    import keras

    from host_tools.protocol.device import host_model
    from host_tools.protocol.workload import load_samples, reference_logits
    from mcutrain_datasets import load_dataset
    from mcutrain_datasets.preprocess import quantize_int8, read_input_quantization

    samples = load_samples(host_model(str(quantized.tflite)), f"npz:{quantized.series}", "test", None)
    test = load_dataset(f"npz:{quantized.series}", image_shape=(1, STEPS, CHANNELS))
    assert samples.x.shape == (48, 1, STEPS, CHANNELS)
    assert np.array_equal(samples.x, quantize_int8(test.x_test, read_input_quantization(quantized.tflite)))
    float_top1 = keras.models.load_model(quantized.keras).predict(test.x_test, verbose=0).argmax(-1)
    int8_top1 = reference_logits(host_model(str(quantized.tflite)), samples.x).argmax(-1)
    assert np.mean(float_top1 == test.y_test) >= 0.8  # the float model learned the classes
    assert np.mean(int8_top1 == float_top1) >= 0.9


def test_a_file_with_other_channels_is_refused_in_one_line(quantized, capsys, tmp_path):
    four = tmp_path / "four.npz"
    np.savez(four, x=np.zeros((20, STEPS, 4), np.float32), y=np.arange(20) % 2)
    code, _, err = mcutrain(capsys, "infer", "--model", str(quantized.tflite), "--data", f"npz:{four}",
                            "--limit", "2", "--no-progress")
    assert code == 1
    assert err.strip() == (f"mcutrain: error: {four}: float samples have shape (1, 32, 4), the model's input is "
                           "(1, 32, 6): float features are taken as they are, never resized, padded or converted")


@pytest.mark.emulator
def test_infer_on_qemu_m7_agrees_bit_exactly_with_the_host_reference(quantized, capsys):
    code, out, err = mcutrain(capsys, "infer", "--board", "qemu-m7", "--model", str(quantized.tflite), "--data",
                              f"npz:{quantized.series}", "--limit", "20", "--json", "--no-progress")
    assert code == 0, err
    report = json.loads(out)
    assert report["samples"] == 20 and report["reference_agrees_logits"] == 20
    assert report["accuracy"] >= 0.7


@pytest.mark.emulator
def test_train_on_classes_5_to_9_only_agrees_with_the_golden_reference_then_eval(quantized, capsys, tmp_path):
    """The default plan (the head) trains outputs 5..9 of the 10: every step's loss is the golden
    reference's, then eval on the transfer set's test split runs on the same model."""
    from host_tools.commands.train import run_plan, sample_order
    from host_tools.protocol.device import host_model
    from host_tools.protocol.workload import load_samples
    from quantize.blob import read_header
    from quantize.lower import lower_tflite
    from quantize.training.simulate import simulate_training

    data = f"npz:{quantized.transfer}"
    metrics = tmp_path / "train.csv"
    code, out, err = mcutrain(capsys, "train", "--board", "qemu-m7", "--model", str(quantized.tflite), "--data",
                              data, "--limit", "30", "--eval", "test", "--csv", str(metrics), "--no-progress",
                              "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["steps"] == 30 and report["eval_samples"] == 12
    with metrics.open() as file:
        rows = list(csv.DictReader(file))
    assert {int(row["label"]) for row in rows} == {5, 6, 7, 8, 9}

    model = host_model(str(quantized.tflite))
    lowered = lower_tflite(model.tflite, model.name, plan=model.plan)
    samples = load_samples(model, data, "train", 30)
    plan = run_plan(model.training_plan, None, None, 30)
    golden = simulate_training(model.tflite, plan, lowered.trainable_layout,
                               read_header(lowered.blob)["trainable_size"], samples.x, samples.y,
                               sample_order(30, 1, 1, True), plan.lr_at, 1)
    assert [row["loss"] for row in rows] == [f"{q / 65536:.6f}" for q in golden.losses_q16]

    code, out, err = mcutrain(capsys, "eval", "--board", "qemu-m7", "--model", str(quantized.tflite), "--data",
                              data, "--csv", str(tmp_path / "eval.csv"), "--no-progress", "--json")
    assert code == 0, err
    assert json.loads(out)["samples"] == 12


@pytest.mark.slow
@pytest.mark.parametrize("update", ["head", "plan:demo"])
def test_baseline_on_a_transfer_set_of_classes_5_to_9(capsys, tmp_path, update):
    """ref's fp32 yardstick on mnist5k's digits 5..9 only, stored as labels 0..4 with a label_map:
    a fresh 10-output head, or the plan training ref's own head in place."""
    from mcutrain_datasets import load_dataset

    digits = load_dataset("mnist5k")
    keep, keep_test = digits.y_train >= 5, digits.y_test >= 5
    path = tmp_path / "late.npz"
    np.savez(path, x=np.round(digits.x_train[keep] * 255).astype(np.uint8), y=digits.y_train[keep] - 5,
             x_test=np.round(digits.x_test[keep_test] * 255).astype(np.uint8), y_test=digits.y_test[keep_test] - 5,
             label_map=np.arange(5, 10))
    code, out, err = mcutrain(capsys, "baseline", "--model", "ref", "--data", f"npz:{path}", "--update", update,
                              "--epochs", "3", "--limit", "240", "--test-limit", "100", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["trainable_params"] == (1290 if update == "head" else 1290 + 6272 + 6192)
    assert result["test_accuracy"] > 0.4  # five classes present: chance is 0.2
