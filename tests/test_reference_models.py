"""Reference models: committed artifacts match their manifests, the scripts build, the stats are right."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from quantize.errors import ReferenceModelError
from quantize.models import REFERENCE_MODELS, load_reference_model
from quantize.models import artifacts

# Ops the firmware and TFLM run in int8; anything else in a reference model is a regression.
ALLOWED_OPERATORS = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "MEAN", "AVERAGE_POOL_2D", "RESHAPE", "PAD"}


@pytest.mark.parametrize("name", REFERENCE_MODELS)
def test_committed_artifacts_match_manifest_hashes(name):
    model = load_reference_model(name)
    hashes = model.manifest["sha256"]
    assert artifacts.TFLITE_NAME in hashes
    for file, digest in hashes.items():
        assert (model.folder / file).is_file(), f"{model.folder / file} listed in the manifest but not committed"
        assert artifacts.sha256_of(model.folder / file) == digest, f"{model.folder / file} differs from its manifest"


@pytest.mark.parametrize("name", REFERENCE_MODELS)
def test_manifest_describes_the_committed_tflite(name):
    model = load_reference_model(name)
    manifest = model.manifest
    stats = artifacts.tflite_stats(model.tflite_bytes())
    assert manifest["int8_weight_bytes"] == stats.int8_weight_bytes
    assert manifest["tflite_bytes"] == stats.tflite_bytes
    assert manifest["input_quantization"]["zero_point"] == stats.input_zero_point
    assert set(stats.operators) <= ALLOWED_OPERATORS, stats.operators
    for key in ("seed", "epochs", "data", "parameters", "macs", "fp32_test_accuracy", "int8_evaluation", "build_command"):
        assert key in manifest
    assert tuple(manifest["input"]["shape"]) == model.model_input.shape


def test_ref_meets_its_targets():
    manifest = load_reference_model("ref").manifest
    assert manifest["fp32_test_accuracy"] >= 0.90
    assert manifest["int8_test_accuracy"] >= 0.89
    assert manifest["int8_weight_bytes"] <= 200 * 1024
    assert manifest["input"]["shape"] == [28, 28, 1]


def test_ref_keras_model_is_the_folded_graph():
    import keras

    model = load_reference_model("ref").keras_model()
    assert model.output_shape == (None, 10)
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)
    convs = [l for l in model.layers if isinstance(l, (keras.layers.Conv2D, keras.layers.Dense))]
    assert convs and all(l.use_bias for l in convs)
    assert model.count_params() == load_reference_model("ref").manifest["parameters"]
    assert artifacts.count_macs(model) == load_reference_model("ref").manifest["macs"]


def test_mbv2_manifest_shape_and_size():
    model = load_reference_model("mbv2-w0.35-128")
    assert model.manifest["input"]["shape"] == [128, 128, 3] and model.manifest["num_classes"] == 2
    assert model.tflite_path.stat().st_size < 1024 * 1024
    assert not model.keras_path.exists()  # the float model is rebuilt by the script, not committed


def test_count_macs_by_hand():
    import keras

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same")(inputs)  # 4x4x4: 16 * 9 * 3 * 4 = 1728
    x = keras.layers.DepthwiseConv2D(3, padding="same")(x)  # 16 * 9 * 4 = 576
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(5)(x)  # 4 * 5 = 20
    assert artifacts.count_macs(keras.Model(inputs, outputs)) == 1728 + 576 + 20


def test_fold_batchnorm_preserves_outputs():
    from quantize.models.ref import build_ref_model, fold_batchnorm

    model = build_ref_model()
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if layer.name.endswith("_bn"):
            c = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, c), rng.normal(0, 0.1, c), rng.normal(0, 0.2, c), rng.uniform(0.5, 2, c)])
    folded = fold_batchnorm(model)
    x = rng.uniform(0, 1, (4, 28, 28, 1)).astype(np.float32)
    assert np.allclose(model(x, training=False), folded(x), atol=1e-4)
    assert len(folded.layers) < len(model.layers)


def test_unknown_model_and_missing_manifest(tmp_path):
    with pytest.raises(ReferenceModelError, match=r"unknown model 'resnet', expected one of ref, mbv2-w0.35-128"):
        load_reference_model("resnet")
    with pytest.raises(ReferenceModelError, match=r"ref/manifest.json: manifest missing"):
        load_reference_model("ref", models_dir=tmp_path)


@pytest.mark.slow
def test_ref_script_builds_a_tiny_model(tmp_path):
    from quantize.models import ref

    manifest = ref.build(tmp_path, epochs=1, limit=256, tflm_samples=20, verbose=0)
    on_disk = json.loads((tmp_path / artifacts.MANIFEST_NAME).read_text())
    assert on_disk["epochs"] == 1 and "256 train images" in on_disk["data"]
    for file, digest in on_disk["sha256"].items():
        assert artifacts.sha256_of(tmp_path / file) == digest
    committed = load_reference_model("ref").manifest
    assert (manifest.parameters, manifest.macs, manifest.int8_weight_bytes) == (
        committed["parameters"], committed["macs"], committed["int8_weight_bytes"],
    )
    assert manifest.extra["batchnorm_fold_max_logit_error"] < 1e-3
    assert 0.0 <= manifest.int8_test_accuracy <= 1.0


@pytest.mark.slow
def test_mbv2_script_builds_and_is_deterministic(tmp_path):
    from quantize.models import mbv2

    first = mbv2.build_mbv2_model()
    second = mbv2.build_mbv2_model()
    assert all(np.array_equal(a, b) for a, b in zip(first.get_weights(), second.get_weights()))
    # A fresh process, as the committed artifacts were built (Keras layer auto-names are per process).
    subprocess.run([sys.executable, "-m", "quantize.models.mbv2", "--out", str(tmp_path)], check=True, capture_output=True)
    manifest = json.loads((tmp_path / artifacts.MANIFEST_NAME).read_text())
    committed = load_reference_model("mbv2-w0.35-128").manifest
    for key in ("parameters", "macs", "int8_weight_bytes", "input_quantization"):
        assert manifest[key] == committed[key], key
    # Same seed, same pinned TensorFlow: the same graph and quantization. Not byte for byte: the
    # converter's calibration sums floats on several threads, so scales can move in the 6th digit
    # (and an int8 weight by one step) from run to run.
    _assert_same_quantized_model(tmp_path / artifacts.TFLITE_NAME, load_reference_model("mbv2-w0.35-128").tflite_path)


def _assert_same_quantized_model(rebuilt_path, committed_path) -> None:
    import tensorflow as tf

    rebuilt = tf.lite.Interpreter(model_path=str(rebuilt_path))
    committed = tf.lite.Interpreter(model_path=str(committed_path))
    pairs = list(zip(rebuilt.get_tensor_details(), committed.get_tensor_details(), strict=True))
    for new, old in pairs:
        assert (new["name"], list(new["shape"]), new["dtype"]) == (old["name"], list(old["shape"]), old["dtype"])
        q_new, q_old = new["quantization_parameters"], old["quantization_parameters"]
        np.testing.assert_allclose(q_new["scales"], q_old["scales"], rtol=1e-4, err_msg=new["name"])
        np.testing.assert_array_equal(q_new["zero_points"], q_old["zero_points"], err_msg=new["name"])
    for new, old in pairs:
        try:
            a, b = rebuilt.get_tensor(new["index"]), committed.get_tensor(old["index"])
        except ValueError:  # activations have no data before invoke
            continue
        if a.dtype == np.int8:
            assert np.abs(a.astype(int) - b).max() <= 1, new["name"]
