"""Resolving the `--model` argument of the device commands to an int8 .tflite: a reference model's
name (`ref`, `mbv2-w0.35-128`), an int8 .tflite, or a user's float model whose int8 model
`mcutrain quantize` wrote beside it (quantize/user_model.py)."""

from __future__ import annotations

from dataclasses import dataclass

# What --model takes, for every command's help.
MODEL_HELP = ("a reference model (ref, mbv2-w0.35-128), your int8 .tflite, or your .keras with the int8 .tflite "
              "mcutrain quantize wrote beside it")


@dataclass
class ModelSource:
    name: str        # blob name (at most 16 bytes are kept)
    tflite: bytes
    origin: str      # where it came from, for messages and generated-file headers


def resolve_model(spec: str) -> ModelSource:
    from quantize.importer import check_int8_tflite
    from quantize.user_model import named_model

    model = named_model(spec)
    tflite = model.tflite_bytes()  # a float model without its int8 pair: says how to make it
    origin = str(model.tflite_path)
    check_int8_tflite(tflite, origin)
    return ModelSource(model.name, tflite, origin)
