"""The fp32 yardstick: fine-tune a reference model in TensorFlow, updating only a chosen subset of
its parameters, and measure test accuracy.

Update modes (`parse_update`):
    head       the fresh classification head only
    bias       every bias of the network plus the head
    last:N     all weights and biases of the last N layers with weights before the head, plus the head
    full       everything
    plan:PLAN  exactly the parameters a training plan names (quantize/training_plan.py, the file the
               device's firmware is built with): PLAN is a path, or the name of a plan committed
               beside the model (plan:demo is quantize/models/ref/plans/demo.json)
For head, bias, last:N and full the head (the last Dense layer) is replaced by a fresh one with one
output per class of the target data, initialised from the seed; training is Adam on shuffled
mini-batches, at DEFAULT_LEARNING_RATE for partial updates and FULL_UPDATE_LEARNING_RATE for `full`.

plan: is the fp32 twin of what the device does with the same plan, so it differs on purpose:
- the pretrained head is kept and trained in place (the device updates the int8 model's own head),
  so the target data's labels must be among the model's outputs (a subset is fine: a transfer set
  holding classes 5..9 trains those outputs of a 10-output head, and the device does the same);
- each planned operator's Keras layer (keras_layers_by_op: TFLite operator index -> layer) updates
  its kernel and/or bias, and only in the planned output channels (the other channels' gradients
  are masked to zero); where the Keras model keeps a BatchNormalization after a conv (mbv2), the
  operator's bias is that BatchNormalization's beta (the additive term the int8 bias folds in);
- plain SGD, one sample per step unless --batch-size says otherwise (as the device), at the plan's
  learning rate and schedule per step (TrainingPlan.lr_at; --lr replaces the plan's lr, the
  schedule stays), for the plan's epochs unless --epochs says otherwise. QAS does not apply in fp32.

The rest of the network runs in inference mode (BatchNorm statistics frozen), as on the device.
Cross-entropy on logits, fixed seeds and TensorFlow op determinism, so a run is reproducible.
"""

from __future__ import annotations

import functools
import json
import time
from dataclasses import asdict, dataclass, replace

import numpy as np

from quantize.errors import FinetuneError
from quantize.tflite_model import Graph
from quantize.training_plan import PARAMETRIC_OPS, TrainingPlan, check_plan, output_channels, resolve_plan

DEFAULT_EPOCHS = 10
DEFAULT_BATCH_SIZE = 32
# Adam learning rates, measured on ref -> mnist5k (10 epochs): partial updates need the larger
# rate (head 0.57 at 1e-3 vs 0.70 at 1e-2), full fine-tuning diverges with it (0.97 vs 0.34).
DEFAULT_LEARNING_RATE = 1e-2
FULL_UPDATE_LEARNING_RATE = 1e-3
# plan: trains as the device does, one sample per step.
PLAN_BATCH_SIZE = 1
DEFAULT_SEED = 0
UPDATE_MODES = ("head", "bias", "last:N", "full", "plan:PATH", "plan:NAME")


@dataclass(frozen=True)
class UpdateSpec:
    """Which parameters to train: a mode and, for `last` / `plan`, its arguments (for `plan`, the
    plan and the int8 graph whose operator indices it names)."""

    text: str
    mode: str
    last_layers: int = 0
    plan: TrainingPlan | None = None
    graph: Graph | None = None


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


def parse_update(text: str, model_spec: str) -> UpdateSpec:
    """The UpdateSpec for an --update value for the model `model_spec` names (quantize/user_model.py
    named_model; see the module docstring); a plan is read and checked against the model's int8
    graph here (a user's model needs its int8 .tflite for that)."""
    if text in ("head", "bias", "full"):
        return UpdateSpec(text=text, mode=text)
    if text.startswith("last:"):
        count = text[len("last:"):]
        if not count.isdigit() or int(count) < 1:
            raise FinetuneError(f"--update {text}: expected last:N with N a positive integer")
        return UpdateSpec(text=text, mode="last", last_layers=int(count))
    if text.startswith("plan:") and len(text) > len("plan:"):
        from quantize.tflite_model import parse_tflite
        from quantize.user_model import named_model

        model = named_model(model_spec)
        plan = resolve_plan(text[len("plan:"):], model.name)
        graph = parse_tflite(model.tflite_bytes())
        check_plan(plan, graph, set())
        return UpdateSpec(text=text, mode="plan", plan=plan, graph=graph)
    raise FinetuneError(f"--update {text}: expected one of {', '.join(UPDATE_MODES)}")


def default_learning_rate(update: UpdateSpec) -> float:
    """Adam's learning rate for the modes other than plan: (which takes the plan's)."""
    return FULL_UPDATE_LEARNING_RATE if update.mode == "full" else DEFAULT_LEARNING_RATE


def logits_model(model):
    """`model` ending in its logits: a trailing Softmax (a layer, or the last Dense's activation) is
    dropped, as the device trains from the logits before the int8 model's SOFTMAX and the loss here
    is cross-entropy on logits. The model is returned as it is when it ends in logits already."""
    import keras

    last = model.layers[-1]
    is_softmax = isinstance(last, keras.layers.Softmax) or (
        isinstance(last, keras.layers.Activation) and last.activation is keras.activations.softmax)
    if is_softmax:
        return keras.Model(model.input, last.input, name=model.name)
    if isinstance(last, keras.layers.Dense) and last.activation is keras.activations.softmax:
        last.activation = keras.activations.linear  # the loaded copy is ours; its kernel and bias are kept
    return model


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

    return _planned_parameters(model, update.plan, update.graph)


def keras_layers_by_op(model, graph: Graph) -> dict[int, object]:
    """The Keras layer of each CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED operator of the int8
    graph, by operator index: the k-th such operator is the k-th Conv2D, DepthwiseConv2D or Dense
    layer of the model (both lists are in the model's topological order, which the TFLite converter
    keeps), checked by kind and filter shape. FinetuneError when the two do not match."""
    import keras

    kinds = {"CONV_2D": keras.layers.Conv2D, "DEPTHWISE_CONV_2D": keras.layers.DepthwiseConv2D,
             "FULLY_CONNECTED": keras.layers.Dense}
    ops = [op for op in graph.operators if op.op in PARAMETRIC_OPS]
    layers = [layer for layer in model.layers if isinstance(layer, tuple(kinds.values()))]
    if len(ops) != len(layers):
        raise FinetuneError(f"model '{model.name}': {len(layers)} Keras layers with a kernel, but the int8 graph has "
                            f"{len(ops)} operators with parameters")
    for op, layer in zip(ops, layers):
        shape = graph.tensor(op.inputs[1]).shape
        if not isinstance(layer, kinds[op.op]) or _tflite_filter_shape(layer) != shape:
            raise FinetuneError(f"model '{model.name}': operator {op.index} ({op.op}, filter {list(shape)}) does not "
                                f"match Keras layer '{layer.name}' ({type(layer).__name__}, kernel "
                                f"{list(layer.kernel.shape)})")
    return {op.index: layer for op, layer in zip(ops, layers)}


def _tflite_filter_shape(layer) -> tuple[int, ...]:
    """The shape TFLite gives `layer`'s kernel: CONV_2D [out, kh, kw, in] from Keras [kh, kw, in, out],
    DEPTHWISE_CONV_2D [1, kh, kw, in * multiplier] from [kh, kw, in, multiplier], FULLY_CONNECTED
    [out, in] from [in, out]."""
    import keras

    shape = tuple(layer.kernel.shape)
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return (1, shape[0], shape[1], shape[2] * shape[3])
    return (shape[-1], *shape[:-1])


def _planned_parameters(model, plan: TrainingPlan, graph: Graph) -> list[tuple[object, np.ndarray | None]]:
    """Each planned operator's kernel and/or bias, masked to its planned output channels."""
    import keras

    layers = keras_layers_by_op(model, graph)
    selected: list[tuple[object, np.ndarray | None]] = []
    for planned in plan.layers:
        layer = layers[planned.op]
        out_channels = output_channels(graph, planned.op)
        channels = planned.channel_indices(out_channels)
        kept = None
        if len(channels) < out_channels:
            kept = np.zeros(out_channels, dtype=np.float32)
            kept[list(channels)] = 1.0
        if planned.weights:
            kernel = layer.kernel
            # The output channel is the last axis, or (in, multiplier) of a depthwise kernel.
            channel_axes = kernel.shape[-2:] if isinstance(layer, keras.layers.DepthwiseConv2D) else kernel.shape[-1:]
            selected.append((kernel, None if kept is None else
                             np.broadcast_to(kept.reshape(channel_axes), kernel.shape).copy()))
        if planned.bias:
            selected.append((_folded_bias(model, layer), kept))
    return selected


def _folded_bias(model, layer):
    """The variable the int8 operator's bias stands for: the beta of a BatchNormalization right
    after `layer` (its additive term, folded into the int8 bias), else the layer's own bias."""
    import keras

    for other in model.layers:
        if isinstance(other, keras.layers.BatchNormalization) and other.input is layer.output:
            return other.beta
    if getattr(layer, "bias", None) is None:
        raise FinetuneError(f"model '{model.name}': Keras layer '{layer.name}' has no bias")
    return layer.bias


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
    batch_size: int | None = None,
    learning_rate: float | None = None,
    seed: int = DEFAULT_SEED,
) -> tuple[float, int, float]:
    """Train the selected parameters of `model` (float inputs already preprocessed); batch_size
    None is PLAN_BATCH_SIZE for plan:, DEFAULT_BATCH_SIZE otherwise (module docstring).

    Returns (test accuracy, number of trained scalars, wall seconds of training and evaluation).
    """
    import keras
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(seed)
    selected = select_parameters(model, update)
    variables = [v for v, _ in selected]
    masks = [None if mask is None else tf.constant(mask, dtype=tf.float32) for _, mask in selected]
    if update.mode == "plan":
        plan = update.plan if learning_rate is None else replace(update.plan, lr=learning_rate)
        rate_at = plan.lr_at
        optimizer = keras.optimizers.SGD(rate_at(0))
        batch_size = batch_size or PLAN_BATCH_SIZE
    else:
        rate_at = None
        optimizer = keras.optimizers.Adam(learning_rate or default_learning_rate(update))
        batch_size = batch_size or DEFAULT_BATCH_SIZE
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
    step = 0
    for _ in range(epochs):
        order = rng.permutation(len(y_train))
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            if rate_at is not None:
                optimizer.learning_rate = rate_at(step)
            train_step(tf.constant(x_train[batch]), tf.constant(y_train[batch]))
            step += 1
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


def run_baseline(
    model_spec: str,
    data_name: str,
    update_text: str,
    epochs: int | None = None,
    limit: int | None = None,
    test_limit: int | None = None,
    batch_size: int | None = None,
    learning_rate: float | None = None,
    seed: int = DEFAULT_SEED,
) -> BaselineResult:
    """Fine-tune the model `model_spec` names (a reference model, or a user's .keras: quantize/user_model.py)
    on dataset `data_name` with update `update_text`.
    epochs None: the plan's epochs for plan: (if it says), else DEFAULT_EPOCHS; batch_size and
    learning_rate None: the update mode's defaults (module docstring)."""
    from mcutrain_datasets import load_dataset
    from mcutrain_datasets.preprocess import to_model_float
    from quantize.user_model import named_model

    update = parse_update(update_text, model_spec)
    if epochs is None:
        epochs = (update.plan.epochs if update.plan else None) or DEFAULT_EPOCHS
    if epochs < 1:
        raise FinetuneError(f"--epochs {epochs}: expected a positive number of epochs")
    source = named_model(model_spec)
    model = logits_model(source.keras_model())
    model_input = source.model_input
    data = load_dataset(data_name, image_shape=model_input.shape, limit=limit, test_limit=test_limit)
    if update.mode != "plan":
        model = with_fresh_head(model, data.num_classes, seed)
    elif data.num_classes > model.output_shape[-1]:
        # Fewer classes are fine: the labels then train some of the head's outputs, as on the device.
        raise FinetuneError(f"--update {update.text}: a plan trains {source.name}'s own head in place, as the device "
                            f"does; it has {model.output_shape[-1]} outputs, {data_name} has {data.num_classes} "
                            "classes")
    model_float = functools.partial(to_model_float, model_input=model_input, images=data.images, where=data.source)
    accuracy, trained, seconds = finetune(
        model,
        model_float(data.x_train),
        data.y_train,
        model_float(data.x_test),
        data.y_test,
        update,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        seed=seed,
    )
    return BaselineResult(
        model=source.name,
        data=data_name,
        update=update_text,
        epochs=epochs,
        test_accuracy=round(accuracy, 4),
        trainable_params=trained,
        seconds=round(seconds, 2),
    )
