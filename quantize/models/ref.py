"""Build the `ref` reference model: a small MobileNetV2-style CNN for 28x28 grayscale, trained on
Fashion-MNIST (full 60k train split) and converted to int8.

    python -m quantize.models.ref                      # writes quantize/models/ref/
    python -m quantize.models.ref --epochs 1 --limit 500 --out /tmp/ref   # quick check

Architecture (input 28x28x1, pixels scaled to [0, 1], no padding to 32x32):
    stem_conv   3x3 conv s1, 16 ch, ReLU6                 28x28x16
    b1          depthwise 3x3 s2 + project 16 (t=1)       14x14x16
    b2..b6      inverted residual blocks (expand 1x1, depthwise 3x3, project 1x1, linear),
                residual add where stride is 1 and channels match; see BLOCKS
    last_conv   1x1 conv, 128 ch, ReLU6                    7x7x128
    pool        global average pool                        128
    logits      dense, 10 classes, no softmax (the device computes the loss from logits)
It is trained with BatchNorm after every conv; the BatchNorms are then folded into the convs'
kernels and biases, so the committed Keras model has exactly the layers of the int8 graph
(CONV_2D, DEPTHWISE_CONV_2D, ADD, MEAN, FULLY_CONNECTED; ReLU6 fused), one bias per conv.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from mcutrain_datasets import load_dataset
from mcutrain_datasets.preprocess import ModelInput, preprocess_int8, read_input_quantization
from quantize.convert import convert_keras_to_int8
from quantize.models import artifacts

NAME = "ref"
OUT_DIR = Path(__file__).resolve().parent / NAME
SEED = 0
EPOCHS = 6
BATCH_SIZE = 128
LEARNING_RATE = 2e-3
NUM_CLASSES = 10
MODEL_INPUT = ModelInput(shape=(28, 28, 1), scale=1.0, offset=0.0)
STEM_CHANNELS = 16
LAST_CHANNELS = 128
# (expansion factor t, output channels, stride) of each inverted residual block b1, b2, ...
BLOCKS = ((1, 16, 2), (4, 24, 1), (4, 24, 1), (4, 32, 2), (4, 32, 1), (4, 48, 1))
TFLM_EVAL_SAMPLES = 10000  # int8 accuracy with the TFLM interpreter on the first N test images (all)
BN_EPSILON = 1e-3
BN_MOMENTUM = 0.9  # moving statistics settle within a few hundred steps


def build_ref_model(num_classes: int = NUM_CLASSES, batchnorm: bool = True):
    """The `ref` Keras model (untrained). batchnorm=False gives the folded twin: same layer names
    without the `_bn` layers, and a bias in every conv."""
    import keras
    from keras import layers

    def conv(x, name, kind, filters=None, kernel=1, stride=1, relu=True):
        if kind == "dw":
            x = layers.DepthwiseConv2D(kernel, stride, padding="same", use_bias=not batchnorm, name=name)(x)
        else:
            x = layers.Conv2D(filters, kernel, stride, padding="same", use_bias=not batchnorm, name=name)(x)
        if batchnorm:
            x = layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=f"{name}_bn")(x)
        if relu:
            x = layers.ReLU(max_value=6.0, name=f"{name}_relu")(x)
        return x

    inputs = keras.Input(shape=MODEL_INPUT.shape, name="image")
    x = conv(inputs, "stem_conv", "conv", STEM_CHANNELS, kernel=3)
    channels = STEM_CHANNELS
    for index, (expansion, out_channels, stride) in enumerate(BLOCKS, start=1):
        block_input = x
        if expansion != 1:
            x = conv(x, f"b{index}_expand", "conv", channels * expansion)
        x = conv(x, f"b{index}_dw", "dw", kernel=3, stride=stride)
        x = conv(x, f"b{index}_project", "conv", out_channels, relu=False)
        if stride == 1 and out_channels == channels:
            x = layers.Add(name=f"b{index}_add")([block_input, x])
        channels = out_channels
    x = conv(x, "last_conv", "conv", LAST_CHANNELS)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=NAME)


def fold_batchnorm(trained):
    """The folded twin of a trained batchnorm=True model: each BN folded into the conv before it."""
    import keras

    folded = build_ref_model(trained.output_shape[-1], batchnorm=False)
    for layer in folded.layers:
        if not layer.weights:
            continue
        source = trained.get_layer(layer.name)
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
            bn = trained.get_layer(f"{layer.name}_bn")
            gamma, beta, mean, variance = (w.numpy() for w in bn.weights)
            factor = gamma / np.sqrt(variance + bn.epsilon)
            kernel = source.kernel.numpy()
            # Conv2D kernel [kh, kw, cin, cout]; DepthwiseConv2D [kh, kw, cin, 1]: scale per output channel.
            shape = (1, 1, 1, -1) if not isinstance(layer, keras.layers.DepthwiseConv2D) else (1, 1, -1, 1)
            layer.set_weights([kernel * factor.reshape(shape), beta - mean * factor])
        else:
            layer.set_weights(source.get_weights())
    return folded


def build(
    out_dir: Path = OUT_DIR,
    epochs: int = EPOCHS,
    limit: int | None = None,
    seed: int = SEED,
    tflm_samples: int = TFLM_EVAL_SAMPLES,
    verbose: int = 2,
) -> artifacts.Manifest:
    """Train, fold, convert and evaluate `ref`; write model.keras, model_int8.tflite, manifest.json."""
    import keras

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(seed)
    data = load_dataset("fashion-mnist", limit=limit)
    x_train, y_train = data.x_train, data.y_train
    x_test, y_test = data.x_test, data.y_test

    model = build_ref_model(data.num_classes)
    steps = epochs * int(np.ceil(len(y_train) / BATCH_SIZE))
    schedule = keras.optimizers.schedules.CosineDecay(LEARNING_RATE, decay_steps=steps)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    started = time.monotonic()
    model.fit(x_train, y_train, batch_size=BATCH_SIZE, epochs=epochs, shuffle=True, verbose=verbose)
    train_seconds = time.monotonic() - started

    folded = fold_batchnorm(model)
    reference_logits = model.predict(x_test[:256], verbose=0)
    folded_logits = folded.predict(x_test[:256], verbose=0)
    fold_error = float(np.max(np.abs(reference_logits - folded_logits)))
    fp32_accuracy = _accuracy(folded.predict(x_test, batch_size=512, verbose=0).argmax(-1), y_test)

    tflite = convert_keras_to_int8(folded, x_train)
    quantization = read_input_quantization(tflite)
    count = min(tflm_samples, len(y_test))
    x_int8 = preprocess_int8(x_test[:count], MODEL_INPUT, quantization)
    int8_accuracy = _accuracy(artifacts.int8_predictions_tflm(tflite, x_int8), y_test[:count])

    keras_path = out_dir / artifacts.KERAS_NAME
    tflite_path = out_dir / artifacts.TFLITE_NAME
    folded.save(keras_path)
    tflite_path.write_bytes(tflite)
    command = "python -m quantize.models.ref" + (f" --epochs {epochs}" if epochs != EPOCHS else "") + (
        f" --limit {limit}" if limit else "")
    return artifacts.write_manifest(
        out_dir,
        name=NAME,
        script_doc=__doc__,
        model=folded,
        tflite=tflite,
        model_input=MODEL_INPUT,
        seed=seed,
        epochs=epochs,
        data=f"fashion-mnist ({data.split}, {len(y_train)} train images used)",
        fp32_test_accuracy=fp32_accuracy,
        int8_test_accuracy=int8_accuracy,
        int8_evaluation=f"TFLM reference interpreter on the first {count} of {len(y_test)} test images",
        build_command=command,
        files=[artifacts.KERAS_NAME, artifacts.TFLITE_NAME],
        extra={
            "batch_size": BATCH_SIZE,
            "optimizer": f"Adam, cosine decay from {LEARNING_RATE}",
            "train_seconds": round(train_seconds, 1),
            "batchnorm_fold_max_logit_error": fold_error,
        },
    )


def _accuracy(predictions: np.ndarray, labels: np.ndarray) -> float:
    return round(float(np.mean(predictions == labels)), 4)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT_DIR, help=f"output folder (default {OUT_DIR})")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--limit", type=int, default=None, help="train on the first N images only")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--tflm-samples", type=int, default=TFLM_EVAL_SAMPLES)
    args = parser.parse_args(argv)
    manifest = build(args.out, args.epochs, args.limit, args.seed, args.tflm_samples)
    print(
        f"{NAME}: fp32 {manifest.fp32_test_accuracy:.4f}, int8 {manifest.int8_test_accuracy:.4f} "
        f"({manifest.int8_evaluation}), {manifest.parameters} params, {manifest.macs} MACs, "
        f"{manifest.int8_weight_bytes} int8 weight bytes -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
