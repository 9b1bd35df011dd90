"""A user's own model as the commands take it (`--model PATH`): the float Keras model trains the fp32
yardstick (`mcutrain baseline`), the int8 .tflite runs on the device (train, eval, plan, demo).

A user holds both: the Keras model they trained and the int8 model `mcutrain quantize my.keras
--calib DATA -o my.tflite` wrote from it. Either may be given; the other is looked for beside it
with the same stem (my.keras <-> my.tflite, or my.h5), so one `--model` names the pair in every
command. When the one a command needs is missing, the error says which file it needs and how to
make it. A SavedModel folder can be quantized, but Keras 3 loads it only as one opaque layer, not
as layers a plan or a fresh head can address: the yardstick asks for the .keras file instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mcutrain_datasets.preprocess import ModelInput
from quantize.errors import ModelImportError

KERAS_SUFFIXES = (".keras", ".h5")


@dataclass(frozen=True)
class UserModel:
    """The files of a user's model: `given` is what the user named, the others were found beside it."""

    name: str             # the stem, the blob's name
    given: Path
    keras_path: Path | None    # the float model (.keras / .h5)
    tflite_path: Path | None   # the int8 model

    @property
    def model_input(self) -> ModelInput:
        """The float input as the Keras model takes it: uint8 images scaled to [0, 1], float
        features as the file holds them (no further scale or offset: the model was trained so)."""
        shape = tuple(int(d) for d in self.keras_model().input_shape[1:])
        return ModelInput(shape=shape)

    def keras_model(self):
        """The float Keras model, for the fp32 yardstick; ModelImportError naming the file it needs."""
        if self.keras_path is None:
            raise ModelImportError(self._missing_keras())
        from quantize.importer import load_keras

        return load_keras(self.keras_path)

    def tflite_bytes(self) -> bytes:
        """The int8 model, for the device and the plan's operator indices."""
        if self.tflite_path is None:
            raise ModelImportError(
                f"{self.given} is a float model and the device runs an int8 one: convert it with `mcutrain quantize "
                f"{self.given} --calib DATA -o {self.given.with_suffix('.tflite')}` (then either file names the pair)")
        return self.tflite_path.read_bytes()

    def _missing_keras(self) -> str:
        if self.given.is_dir():
            return (f"{self.given} is a SavedModel folder, which Keras 3 loads only as one opaque layer: the fp32 "
                    f"yardstick fine-tunes layer by layer, so save the model as .keras (model.save('"
                    f"{self.given.with_suffix('.keras').name}')) and pass that")
        return (f"{self.given} is the int8 model; the fp32 yardstick needs the float Keras model it was quantized from: "
                f"pass --model {self.given.with_suffix('.keras')} (or put it beside {self.given.name} with that name)")


def named_model(spec: str):
    """What `--model` names: a reference model (quantize/models) by its name, else a user's model
    (user_model). Both give name, model_input, keras_model() and tflite_bytes()."""
    from quantize.models import REFERENCE_MODELS, load_reference_model

    if spec in REFERENCE_MODELS:
        return load_reference_model(spec)
    path = Path(spec)
    if not path.exists():
        raise ModelImportError(f"unknown model {spec!r}: expected a reference model ({', '.join(REFERENCE_MODELS)}) "
                               "or a model of yours: .keras, .h5, a SavedModel folder or an int8 .tflite")
    return user_model(path)


def user_model(path: Path) -> UserModel:
    """The user's model at `path` (.keras, .h5, a SavedModel folder or an int8 .tflite) with the
    other half of its pair found beside it; ModelImportError for a path that is none of these."""
    from quantize.importer import model_kind

    kind = model_kind(path)
    if kind == "tflite":
        return UserModel(path.stem, path, _beside(path, KERAS_SUFFIXES), path)
    tflite = _beside(path, (".tflite",))
    return UserModel(path.stem if kind == "keras" else path.name, path, path if kind == "keras" else None, tflite)


def _beside(path: Path, suffixes: tuple[str, ...]) -> Path | None:
    """The first existing file with `path`'s stem (a folder's name) and one of `suffixes`."""
    stem = path.name if path.is_dir() else path.stem
    for suffix in suffixes:
        candidate = path.with_name(stem + suffix)
        if candidate.is_file():
            return candidate
    return None
