"""Resolving the `--model` argument of the CLI to an int8 .tflite: a reference model's name
(`ref`, `mbv2-w0.35-128`) or a path to a .tflite file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from host_tools.errors import McutrainError


@dataclass
class ModelSource:
    name: str        # blob name (at most 16 bytes are kept)
    tflite: bytes
    origin: str      # where it came from, for messages and generated-file headers


def resolve_model(spec: str) -> ModelSource:
    from quantize.importer import check_int8_tflite
    from quantize.models import REFERENCE_MODELS, load_reference_model

    if spec in REFERENCE_MODELS:
        model = load_reference_model(spec)
        return ModelSource(spec, model.tflite_bytes(), str(model.tflite_path))
    path = Path(spec)
    if path.suffix.lower() == ".tflite":
        if not path.is_file():
            raise McutrainError(f"model file {path} does not exist")
        tflite = path.read_bytes()
        check_int8_tflite(tflite, str(path))
        return ModelSource(path.stem, tflite, str(path))
    raise McutrainError(
        f"unknown model {spec!r}: expected a reference model ({', '.join(REFERENCE_MODELS)}) or an int8 .tflite file")
