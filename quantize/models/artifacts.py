"""What the reference-model scripts share: layer statistics, int8 evaluation and the manifest.

A manifest (manifest.json beside the artifacts) records how a model was made and what it scores:
seed, epochs, data, accuracies, parameter count, MACs, int8 weight bytes, the input transform and
quantization, and the sha256 of every committed artifact (tests check the files against it).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from mcutrain_datasets.preprocess import ModelInput

MANIFEST_NAME = "manifest.json"
KERAS_NAME = "model.keras"
TFLITE_NAME = "model_int8.tflite"


@dataclass
class Manifest:
    name: str
    description: str
    input: ModelInput
    num_classes: int
    seed: int
    epochs: int
    data: str
    parameters: int
    macs: int
    int8_weight_bytes: int
    int32_bias_bytes: int
    tflite_bytes: int
    fp32_test_accuracy: float | None
    int8_test_accuracy: float | None
    int8_evaluation: str
    input_quantization: dict
    build_command: str
    sha256: dict[str, str] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    def write(self, folder: Path) -> Path:
        path = Path(folder) / MANIFEST_NAME
        path.write_text(json.dumps(asdict(self), indent=2, sort_keys=False) + "\n")
        return path


def write_manifest(
    out_dir: Path,
    *,
    name: str,
    script_doc: str,
    model,
    tflite: bytes,
    model_input: ModelInput,
    seed: int,
    epochs: int,
    data: str,
    fp32_test_accuracy: float | None,
    int8_test_accuracy: float | None,
    int8_evaluation: str,
    build_command: str,
    files: list[str],
    extra: dict,
) -> Manifest:
    """Measure `model` / `tflite`, hash `files` in out_dir, and write out_dir/manifest.json.

    The description is the first paragraph of the building script's docstring; the operator set
    of the .tflite is added to `extra`.
    """
    stats = tflite_stats(tflite)
    manifest = Manifest(
        name=name,
        description=" ".join(script_doc.strip().split("\n\n")[0].split()),
        input=model_input,
        num_classes=int(model.output_shape[-1]),
        seed=seed,
        epochs=epochs,
        data=data,
        parameters=int(model.count_params()),
        macs=count_macs(model),
        int8_weight_bytes=stats.int8_weight_bytes,
        int32_bias_bytes=stats.int32_bias_bytes,
        tflite_bytes=stats.tflite_bytes,
        fp32_test_accuracy=fp32_test_accuracy,
        int8_test_accuracy=int8_test_accuracy,
        int8_evaluation=int8_evaluation,
        input_quantization={"scale": stats.input_scale, "zero_point": stats.input_zero_point},
        build_command=build_command,
        sha256={file: sha256_of(Path(out_dir) / file) for file in files},
        extra={**extra, "operators": list(stats.operators)},
    )
    manifest.write(out_dir)
    return manifest


def read_manifest(folder: Path) -> dict:
    return json.loads((Path(folder) / MANIFEST_NAME).read_text())


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def count_macs(model) -> int:
    """Multiply-accumulates of one forward pass: Conv2D, DepthwiseConv2D and Dense layers.

    Computed from the layers' output shapes and kernel shapes (adds, pooling and activations are
    not counted). Works through nested models (keras.applications wraps nothing, but be safe).
    """
    import keras

    total = 0
    for layer in _flat_layers(model):
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            kh, kw, _, _ = layer.kernel.shape
            _, h, w, c = layer.output.shape
            total += int(h * w * c * kh * kw)
        elif isinstance(layer, keras.layers.Conv2D):
            kh, kw, cin, cout = layer.kernel.shape
            _, h, w, _ = layer.output.shape
            total += int(h * w * kh * kw * cin * cout // layer.groups)
        elif isinstance(layer, keras.layers.Dense):
            cin, cout = layer.kernel.shape
            total += int(cin * cout)
    return total


def _flat_layers(model):
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _flat_layers(layer)
        else:
            yield layer


@dataclass(frozen=True)
class TfliteStats:
    int8_weight_bytes: int
    int32_bias_bytes: int
    tflite_bytes: int
    input_scale: float
    input_zero_point: int
    input_tensor: int
    operators: tuple[str, ...]


def tflite_stats(tflite: bytes) -> TfliteStats:
    """Sizes of the constant int8 / int32 tensors, the input quantization and the operator set."""
    from quantize.tflite_model import parse_tflite

    graph = parse_tflite(tflite)
    constants = [t.data for t in graph.tensors if t.data is not None]
    x = graph.tensor(graph.inputs[0])
    return TfliteStats(
        int8_weight_bytes=sum(c.nbytes for c in constants if c.dtype == np.int8),
        int32_bias_bytes=sum(c.nbytes for c in constants if c.dtype == np.int32),
        tflite_bytes=len(tflite),
        input_scale=float(x.scale),
        input_zero_point=int(x.zero_point),
        input_tensor=graph.inputs[0],
        operators=tuple(sorted({op.op for op in graph.operators})),
    )


def int8_predictions_tflm(tflite: bytes, x_int8: np.ndarray) -> np.ndarray:
    """Class predictions of the int8 model on int8 inputs [N, ...], run by the TFLM reference interpreter."""
    from quantize.interpreters import reference_outputs

    return reference_outputs(tflite, x_int8).reshape(len(x_int8), -1).argmax(-1).astype(np.int64)


def int8_predictions_tflite(tflite: bytes, x_int8: np.ndarray) -> np.ndarray:
    """Class predictions of the int8 model on int8 inputs [N, ...], run by tf.lite (faster than TFLM)."""
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_content=tflite)
    interpreter.allocate_tensors()
    input_index = interpreter.get_input_details()[0]["index"]
    output_index = interpreter.get_output_details()[0]["index"]
    predictions = np.empty(len(x_int8), dtype=np.int64)
    for i, sample in enumerate(x_int8):
        interpreter.set_tensor(input_index, sample[None, ...])
        interpreter.invoke()
        predictions[i] = int(np.argmax(interpreter.get_tensor(output_index)[0]))
    return predictions
