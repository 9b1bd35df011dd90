"""The samples a CLI command streams to the device: a dataset split preprocessed to the model's
int8 input (mcutrain_datasets.preprocess, the same bytes the host reference sees), and the host
reference's int8 logits for them (the numpy golden model, bit-exact with TFLM)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from host_tools.errors import McutrainError
from host_tools.protocol.device import HostModel


@dataclass
class Samples:
    x: np.ndarray            # int8 [N, H, W, C]: exactly the bytes sent to the device
    y: np.ndarray            # int64 [N]
    class_names: tuple[str, ...]
    description: str         # e.g. "fashion-mnist test (20 of 10000, stratified by class, seed 0)"

    def __len__(self) -> int:
        return len(self.y)


def load_samples(model: HostModel, data: str, split: str, limit: int | None) -> Samples:
    from mcutrain_datasets import load_dataset
    from mcutrain_datasets.base import SUBSET_DRAWN
    from mcutrain_datasets.preprocess import InputQuantization, ModelInput, preprocess_int8
    from quantize.tflite_model import parse_tflite

    if split not in ("train", "test"):
        raise McutrainError(f"split '{split}', expected 'train' or 'test'")
    graph = parse_tflite(model.tflite)
    entry = graph.tensor(graph.int8_input)
    shape = tuple(int(d) for d in entry.shape[1:])
    model_input = _model_input(model, shape)
    dataset = load_dataset(data, image_shape=shape)
    available = len(dataset.y_train if split == "train" else dataset.y_test)
    if limit is not None:
        if limit < 1:
            raise McutrainError(f"--limit {limit}: expected at least 1 sample")
        if limit > available:
            raise McutrainError(f"--limit {limit}: the {split} split of {data} has only {available} samples")
    dataset = dataset.limited(*((limit, None) if split == "train" else (None, limit)))
    x = dataset.x_train if split == "train" else dataset.x_test
    y = dataset.y_train if split == "train" else dataset.y_test
    classes = int(np.prod(graph.tensor(graph.int8_output).shape))
    if dataset.num_classes > classes:
        raise McutrainError(f"{data} has {dataset.num_classes} classes, model {model.name} outputs {classes}")
    quantization = InputQuantization(scale=entry.scale, zero_point=entry.zero_point)
    x_int8 = preprocess_int8(x, model_input, quantization, images=dataset.images, where=dataset.source)
    what = f"{data} {split}" + (f" ({len(y)} of {available}, {SUBSET_DRAWN})" if len(y) < available
                                else f" ({available})")
    return Samples(x_int8, np.asarray(y, dtype=np.int64), dataset.class_names, what)


def _model_input(model: HostModel, shape: tuple[int, ...]):
    from mcutrain_datasets.preprocess import ModelInput
    from quantize.models import REFERENCE_MODELS, load_reference_model

    if model.name in REFERENCE_MODELS:
        return load_reference_model(model.name).model_input
    # A user's .tflite: pixels in [0, 1] as they are (and float features as the file holds them).
    return ModelInput(shape=shape)


def reference_logits(model: HostModel, x_int8: np.ndarray) -> np.ndarray:
    """int8 logits [N, classes] of the host reference: the numpy golden model when present,
    else the TFLM reference interpreter (both bit-exact with the firmware's forward pass)."""
    try:
        from quantize.golden import run_output
        from quantize.tflite_model import parse_tflite
    except ImportError:
        from quantize.interpreters import reference_outputs

        return reference_outputs(model.tflite, x_int8).reshape(len(x_int8), -1)
    graph = parse_tflite(model.tflite)
    return np.stack([np.asarray(run_output(graph, sample[None, ...])).reshape(-1) for sample in x_int8]).astype(np.int8)
