"""The reference models every benchmark uses, by name: their committed artifacts and manifests.

- `ref`: small MobileNetV2-style CNN, 28x28x1, trained on Fashion-MNIST (quantize/models/ref.py).
- `mbv2-w0.35-128`: MobileNetV2 width 0.35, 128x128x3, 2 classes, untrained (quantize/models/mbv2.py).

Each lives in quantize/models/<name>/ with model_int8.tflite, manifest.json and, for `ref`, the
float model.keras (BatchNorm folded). Rebuild them with `python -m quantize.models.<ref|mbv2>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mcutrain_datasets.preprocess import ModelInput
from quantize.errors import ReferenceModelError
from quantize.models import artifacts

MODELS_DIR = Path(__file__).resolve().parent
REFERENCE_MODELS = ("ref", "mbv2-w0.35-128")


@dataclass(frozen=True)
class ReferenceModel:
    """A reference model's folder and manifest; loads the float and int8 models on demand."""

    name: str
    folder: Path
    manifest: dict

    @property
    def model_input(self) -> ModelInput:
        spec = self.manifest["input"]
        return ModelInput(shape=tuple(spec["shape"]), scale=spec["scale"], offset=spec["offset"])

    @property
    def tflite_path(self) -> Path:
        return self.folder / artifacts.TFLITE_NAME

    @property
    def keras_path(self) -> Path:
        return self.folder / artifacts.KERAS_NAME

    def tflite_bytes(self) -> bytes:
        return self.tflite_path.read_bytes()

    def keras_model(self):
        """The float Keras model: the committed model.keras, or rebuilt by the script when not committed."""
        import keras

        if self.keras_path.is_file():
            return keras.models.load_model(self.keras_path, compile=False)
        if self.name == "mbv2-w0.35-128":
            from quantize.models.mbv2 import build_mbv2_model

            return build_mbv2_model(self.manifest["seed"])
        raise ReferenceModelError(
            f"{self.keras_path}: float model missing; rebuild it with python -m quantize.models.{self.name}")


def load_reference_model(name: str, models_dir: Path = MODELS_DIR) -> ReferenceModel:
    """The reference model `name` (one of REFERENCE_MODELS) with its manifest."""
    if name not in REFERENCE_MODELS:
        raise ReferenceModelError(f"unknown model '{name}', expected one of {', '.join(REFERENCE_MODELS)}")
    folder = Path(models_dir) / name
    manifest_path = folder / artifacts.MANIFEST_NAME
    if not manifest_path.is_file():
        raise ReferenceModelError(
            f"{manifest_path}: manifest missing; build it with python -m quantize.models.{_script(name)}")
    return ReferenceModel(name=name, folder=folder, manifest=artifacts.read_manifest(folder))


def _script(name: str) -> str:
    return "ref" if name == "ref" else "mbv2"
