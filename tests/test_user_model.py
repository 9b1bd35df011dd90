"""--model with a user's files (quantize/user_model.py): either half of the pair names both, the
other found beside it by name, and the half a command needs but lacks is a one-line error naming
the file it needs."""

from __future__ import annotations

import pytest

from quantize.errors import ModelImportError
from quantize.user_model import named_model


def touch(path):
    path.write_bytes(b"")
    return path


def test_a_keras_file_finds_its_int8_model_beside_it_and_the_other_way_round(tmp_path):
    keras_file, tflite = touch(tmp_path / "imu.keras"), touch(tmp_path / "imu.tflite")
    for given in (keras_file, tflite):
        model = named_model(str(given))
        assert (model.name, model.keras_path, model.tflite_path) == ("imu", keras_file, tflite)


def test_an_h5_file_is_the_keras_half_too(tmp_path):
    h5, tflite = touch(tmp_path / "imu.h5"), touch(tmp_path / "imu.tflite")
    assert named_model(str(tflite)).keras_path == h5


def test_a_lone_tflite_has_no_keras_half_and_the_yardstick_says_what_it_needs(tmp_path):
    model = named_model(str(touch(tmp_path / "imu.tflite")))
    assert model.keras_path is None
    with pytest.raises(ModelImportError, match=r"imu.tflite is the int8 model; the fp32 yardstick needs the float "
                                               r"Keras model it was quantized from: pass --model .*imu.keras"):
        model.keras_model()


def test_a_savedmodel_folder_is_quantizable_but_the_yardstick_asks_for_keras(tmp_path):
    folder = tmp_path / "imu_saved"
    folder.mkdir()
    touch(folder / "saved_model.pb")
    model = named_model(str(folder))
    assert (model.name, model.keras_path, model.tflite_path) == ("imu_saved", None, None)
    with pytest.raises(ModelImportError, match=r"SavedModel folder, which Keras 3 loads only as one opaque layer"):
        model.keras_model()
    with pytest.raises(ModelImportError, match=r"is a float model and the device runs an int8 one: convert it with "
                                               r"`mcutrain quantize"):
        model.tflite_bytes()
    touch(tmp_path / "imu_saved.tflite")
    assert named_model(str(folder)).tflite_path == tmp_path / "imu_saved.tflite"


@pytest.mark.parametrize("spec, message", [
    ("nosuch", "unknown model 'nosuch': expected a reference model (ref, mbv2-w0.35-128) or a model of yours"),
    ("notes.txt", "notes.txt: unknown model format '.txt', expected .keras, .h5, .tflite or a SavedModel folder"),
])
def test_what_is_not_a_model_is_named(tmp_path, monkeypatch, spec, message):
    monkeypatch.chdir(tmp_path)
    touch(tmp_path / "notes.txt")
    with pytest.raises(ModelImportError) as caught:
        named_model(spec)
    assert str(caught.value).startswith(message)
