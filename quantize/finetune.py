"""The fp32 yardstick: fine-tune a reference model in TensorFlow, updating only a chosen subset of
its parameters, and measure test accuracy.

Update modes (`parse_update`):
    head      the fresh classification head only
    bias      every bias of the network plus the head
    last:N    all weights and biases of the last N layers with weights before the head, plus the head
    full      everything
    plan:PATH exactly the parameters a sparse-update plan file names (PLAN_SCHEMA below)
The head (the last Dense layer) is always replaced by a fresh one with one output per class of the
target data, initialised from the seed. The rest of the network runs in inference mode (BatchNorm
statistics frozen), as on the device. Training: Adam, shuffled mini-batches, cross-entropy on logits,
fixed seeds and TensorFlow op determinism, so a run is reproducible. The default learning rate is
DEFAULT_LEARNING_RATE for partial updates and FULL_UPDATE_LEARNING_RATE for `full`.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from quantize.errors import FinetuneError

DEFAULT_EPOCHS = 10
DEFAULT_BATCH_SIZE = 32
# Adam learning rates, measured on ref -> mnist5k (10 epochs): partial updates need the larger
# rate (head 0.57 at 1e-3 vs 0.70 at 1e-2), full fine-tuning diverges with it (0.97 vs 0.34).
DEFAULT_LEARNING_RATE = 1e-2
FULL_UPDATE_LEARNING_RATE = 1e-3
DEFAULT_SEED = 0
UPDATE_MODES = ("head", "bias", "last:N", "full", "plan:PATH")
CHANNEL_RATIOS = (1.0, 0.5, 0.25, 0.125)
PLAN_SCHEMA = """\
A plan file is a JSON object with (at least one of) these keys and no others:
  "bias_layers":   ["layer name", ...]            update the bias of each named layer
  "weight_layers": {"layer name": ratio, ...}     update the kernel of each named layer; ratio 1, 0.5,
                                                  0.25 or 0.125 updates the first ceil(ratio * C_out)
                                                  output channels only
Layer names are the Keras layer names of the model (the head is named as in the model, "logits"
for ref); the head is trained only if the plan names it.
"""


@dataclass(frozen=True)
class UpdateSpec:
    """Which parameters to train: a mode and, for `last` / `plan`, its arguments."""

    text: str
    mode: str
    last_layers: int = 0
    bias_layers: tuple[str, ...] = ()
    weight_layers: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class BaselineResult:
    """One fine-tuning run; `asdict` gives the JSON of `mcutrain baseline --json`."""

    model: str
    data: str
    update: str
    epochs: int
    test_accuracy: float
    trainable_params: int
    seconds: float

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def parse_update(text: str) -> UpdateSpec:
    """The UpdateSpec for an --update value (see the module docstring)."""
    if text in ("head", "bias", "full"):
        return UpdateSpec(text=text, mode=text)
    if text.startswith("last:"):
        count = text[len("last:"):]
        if not count.isdigit() or int(count) < 1:
            raise FinetuneError(f"--update {text}: expected last:N with N a positive integer")
        return UpdateSpec(text=text, mode="last", last_layers=int(count))
    if text.startswith("plan:"):
        bias_layers, weight_layers = read_plan_file(Path(text[len("plan:"):]))
        return UpdateSpec(text=text, mode="plan", bias_layers=bias_layers, weight_layers=weight_layers)
    raise FinetuneError(f"--update {text}: expected one of {', '.join(UPDATE_MODES)}")


def default_learning_rate(update: UpdateSpec) -> float:
    return FULL_UPDATE_LEARNING_RATE if update.mode == "full" else DEFAULT_LEARNING_RATE


def read_plan_file(path: Path) -> tuple[tuple[str, ...], dict[str, float]]:
    """(bias layer names, {weight layer name: channel ratio}) from a plan file (PLAN_SCHEMA)."""
    if not path.is_file():
        raise FinetuneError(f"{path}: plan file not found")
    try:
        plan = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise FinetuneError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(plan, dict):
        raise FinetuneError(f"{path}: expected a JSON object with 'bias_layers' and/or 'weight_layers'")
    unknown = sorted(set(plan) - {"bias_layers", "weight_layers"})
    if unknown:
        raise FinetuneError(f"{path}: unknown key '{unknown[0]}', expected only 'bias_layers' and 'weight_layers'")
    bias_layers = plan.get("bias_layers", [])
    weight_layers = plan.get("weight_layers", {})
    if not isinstance(bias_layers, list) or not all(isinstance(name, str) for name in bias_layers):
        raise FinetuneError(f"{path}: 'bias_layers' must be a list of layer names")
    if not isinstance(weight_layers, dict):
        raise FinetuneError(f"{path}: 'weight_layers' must be an object {{layer name: ratio}}")
    for name, ratio in weight_layers.items():
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or float(ratio) not in CHANNEL_RATIOS:
            raise FinetuneError(
                f"{path}: 'weight_layers' ratio {ratio!r} of layer '{name}', expected one of 1, 0.5, 0.25, 0.125"
            )
    if not bias_layers and not weight_layers:
        raise FinetuneError(f"{path}: the plan updates nothing, expected a non-empty 'bias_layers' or 'weight_layers'")
    return tuple(bias_layers), {name: float(ratio) for name, ratio in weight_layers.items()}


def with_fresh_head(model, num_classes: int, seed: int):
    """`model` with its last Dense layer replaced by a new one (same name, `num_classes` outputs)."""
    import keras

    head = model.layers[-1]
    if not isinstance(head, keras.layers.Dense):
        raise FinetuneError(f"model '{model.name}': last layer '{head.name}' is {type(head).__name__}, expected Dense")
    keras.utils.set_random_seed(seed)
    outputs = keras.layers.Dense(num_classes, name=head.name)(head.input)
    return keras.Model(model.input, outputs, name=model.name)


def select_parameters(model, update: UpdateSpec) -> list[tuple[object, np.ndarray | None]]:
    """The variables to train and, for partial-channel updates, a 0/1 gradient mask for each."""
    import keras

    head = model.layers[-1]
    head_vars = [(head.kernel, None), (head.bias, None)]
    body = [layer for layer in model.layers[:-1] if layer.weights]
    if update.mode == "full":
        return [(v, None) for v in model.trainable_variables]
    if update.mode == "head":
        return head_vars
    if update.mode == "bias":
        biases = [(_bias_of(layer), None) for layer in body if _bias_of(layer) is not None]
        return biases + head_vars
    if update.mode == "last":
        if update.last_layers > len(body):
            raise FinetuneError(
                f"--update {update.text}: model '{model.name}' has only {len(body)} layers with weights before the head"
            )
        chosen = body[-update.last_layers:]
        return [(v, None) for layer in chosen for v in layer.trainable_variables] + head_vars

    selected: list[tuple[object, np.ndarray | None]] = []
    for name in update.bias_layers:
        bias = _bias_of(_layer(model, name, update))
        if bias is None:
            raise FinetuneError(f"{update.text}: layer '{name}' has no bias")
        selected.append((bias, None))
    for name, ratio in update.weight_layers.items():
        layer = _layer(model, name, update)
        kernel = getattr(layer, "kernel", None)
        if kernel is None:
            raise FinetuneError(f"{update.text}: layer '{name}' has no weights (kernel)")
        axis = 2 if isinstance(layer, keras.layers.DepthwiseConv2D) else len(kernel.shape) - 1
        selected.append((kernel, None if ratio == 1.0 else _channel_mask(kernel.shape, axis, ratio)))
    return selected


def count_trainable(selected: list[tuple[object, np.ndarray | None]]) -> int:
    """Scalars actually updated (a masked kernel counts only its unmasked channels)."""
    return int(sum(int(np.prod(v.shape)) if mask is None else int(mask.sum()) for v, mask in selected))


def finetune(
    model,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    update: UpdateSpec,
    epochs: int = DEFAULT_EPOCHS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    learning_rate: float | None = None,
    seed: int = DEFAULT_SEED,
) -> tuple[float, int, float]:
    """Train the selected parameters of `model` (float inputs already preprocessed).

    Returns (test accuracy, number of trained scalars, wall seconds of training and evaluation).
    """
    import keras
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(seed)
    selected = select_parameters(model, update)
    variables = [v for v, _ in selected]
    masks = [None if mask is None else tf.constant(mask, dtype=tf.float32) for _, mask in selected]
    optimizer = keras.optimizers.Adam(learning_rate or default_learning_rate(update))
    optimizer.build(variables)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function(reduce_retracing=True)
    def train_step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=False))
        gradients = tape.gradient(loss, variables)
        gradients = [g if m is None else g * m for g, m in zip(gradients, masks)]
        optimizer.apply_gradients(zip(gradients, variables))
        return loss

    rng = np.random.default_rng(seed)
    started = time.monotonic()
    for _ in range(epochs):
        order = rng.permutation(len(y_train))
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            train_step(tf.constant(x_train[batch]), tf.constant(y_train[batch]))
    predictions = np.concatenate(
        [model(x_test[i:i + 256], training=False).numpy().argmax(-1) for i in range(0, len(x_test), 256)]
    )
    seconds = time.monotonic() - started
    return float(np.mean(predictions == y_test)), count_trainable(selected), seconds


def _bias_of(layer):
    import keras

    if isinstance(layer, keras.layers.BatchNormalization):
        return layer.beta
    return getattr(layer, "bias", None)


def _layer(model, name: str, update: UpdateSpec):
    try:
        return model.get_layer(name)
    except ValueError:
        raise FinetuneError(f"{update.text}: no layer '{name}' in model '{model.name}'") from None


def _channel_mask(shape, axis: int, ratio: float) -> np.ndarray:
    channels = shape[axis]
    kept = math.ceil(ratio * channels)
    mask = np.zeros(shape, dtype=np.float32)
    index = [slice(None)] * len(shape)
    index[axis] = slice(0, kept)
    mask[tuple(index)] = 1.0
    return mask


def run_baseline(
    model_name: str,
    data_name: str,
    update_text: str,
    epochs: int = DEFAULT_EPOCHS,
    limit: int | None = None,
    test_limit: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    learning_rate: float | None = None,
    seed: int = DEFAULT_SEED,
) -> BaselineResult:
    """Fine-tune reference model `model_name` on dataset `data_name` with update `update_text`."""
    from mcutrain_datasets import load_dataset
    from mcutrain_datasets.preprocess import to_model_float
    from quantize.models import load_reference_model

    if epochs < 1:
        raise FinetuneError(f"--epochs {epochs}: expected a positive number of epochs")
    update = parse_update(update_text)
    reference = load_reference_model(model_name)
    model_input = reference.model_input
    data = load_dataset(data_name, image_shape=model_input.shape, limit=limit, test_limit=test_limit)
    model = with_fresh_head(reference.keras_model(), data.num_classes, seed)
    accuracy, trained, seconds = finetune(
        model,
        to_model_float(data.x_train, model_input),
        data.y_train,
        to_model_float(data.x_test, model_input),
        data.y_test,
        update,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        seed=seed,
    )
    return BaselineResult(
        model=model_name,
        data=data_name,
        update=update_text,
        epochs=epochs,
        test_accuracy=round(accuracy, 4),
        trainable_params=trained,
        seconds=round(seconds, 2),
    )
