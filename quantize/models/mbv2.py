"""Build the `mbv2-w0.35-128` reference model: Keras' MobileNetV2, width 0.35, 128x128x3, 2 classes
(the Visual-Wake-Words shape of the paper), with untrained seeded weights, calibrated on generated
images and converted to int8. It is for memory and speed measurements, not accuracy.

    python -m quantize.models.mbv2                    # writes quantize/models/mbv2-w0.35-128/

`keras.applications.MobileNetV2(alpha=0.35, weights=None, classes=2, classifier_activation=None)`:
nothing is downloaded, and the final softmax is dropped (the output is logits, as for `ref`).
Untrained, the BatchNorms (mean 0, variance 1) let activations shrink to ~1e-12 by the logits, which
would give degenerate int8 scales; so their moving statistics are set from generated images (one
training-mode pass with momentum 0), as if the network had been trained on data of that range.
Input pixels in [0, 1] are scaled to [-1, 1] as MobileNetV2 expects. Only the int8 .tflite and the
manifest are committed: the float model (about 1.7 MB) is rebuilt bit for bit by `build_mbv2_model`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from mcutrain_datasets.preprocess import ModelInput, preprocess_int8, read_input_quantization, to_model_float
from quantize.convert import convert_keras_to_int8
from quantize.models import artifacts

NAME = "mbv2-w0.35-128"
OUT_DIR = Path(__file__).resolve().parent / NAME
SEED = 0
ALPHA = 0.35
NUM_CLASSES = 2
MODEL_INPUT = ModelInput(shape=(128, 128, 3), scale=2.0, offset=-1.0)
CALIBRATION_SAMPLES = 64
BATCHNORM_SAMPLES = 32  # generated images (seed + 2) that set the BatchNorm statistics
AGREEMENT_SAMPLES = 32  # generated images (not used for calibration) on which int8 and fp32 top-1 are compared


def build_mbv2_model(seed: int = SEED):
    """The float Keras model: weights from Keras' initialisers under `seed`, BatchNorm statistics
    from generated images (deterministic)."""
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.applications.MobileNetV2(
        input_shape=MODEL_INPUT.shape,
        alpha=ALPHA,
        weights=None,
        include_top=True,
        classes=NUM_CLASSES,
        classifier_activation=None,
    )
    set_batchnorm_statistics(model, to_model_float(generated_images(BATCHNORM_SAMPLES, seed + 2), MODEL_INPUT))
    return model


def set_batchnorm_statistics(model, x: np.ndarray) -> None:
    """Set every BatchNorm's moving mean/variance to the batch statistics of its input on x."""
    import keras

    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in norms]
    for layer in norms:
        layer.momentum = 0.0
    model(x, training=True)
    for layer, momentum in zip(norms, momenta):
        layer.momentum = momentum


def generated_images(count: int, seed: int) -> np.ndarray:
    """Smooth random colour images in [0, 1], float32 [count, 128, 128, 3]: 8x8 random colour fields
    upsampled bilinearly, plus a little pixel noise (closer to photographs than white noise)."""
    from mcutrain_datasets.preprocess import fit_images

    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0.0, 1.0, size=(count, 8, 8, 3)).astype(np.float32)
    images = fit_images(coarse, MODEL_INPUT.shape, "resize")
    noise = rng.normal(0.0, 0.03, size=images.shape).astype(np.float32)
    return np.clip(images + noise, 0.0, 1.0)


def build(
    out_dir: Path = OUT_DIR, seed: int = SEED, calibration_samples: int = CALIBRATION_SAMPLES, save_keras: bool = False
) -> artifacts.Manifest:
    """Build, calibrate and convert; write model_int8.tflite and manifest.json (and model.keras if asked).

    Run it in a fresh process (python -m quantize.models.mbv2) to reproduce the committed bytes:
    Keras numbers auto-named layers per process, and those names end up in the .tflite.
    """
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = build_mbv2_model(seed)
    calibration = to_model_float(generated_images(calibration_samples, seed), MODEL_INPUT)
    tflite = convert_keras_to_int8(model, calibration)
    quantization = read_input_quantization(tflite)

    held_out = generated_images(AGREEMENT_SAMPLES, seed + 1)
    fp32_top1 = model.predict(to_model_float(held_out, MODEL_INPUT), verbose=0).argmax(-1)
    int8_top1 = artifacts.int8_predictions_tflite(tflite, preprocess_int8(held_out, MODEL_INPUT, quantization))

    names = [artifacts.TFLITE_NAME]
    (out_dir / artifacts.TFLITE_NAME).write_bytes(tflite)
    if save_keras:
        model.save(out_dir / artifacts.KERAS_NAME)
        names.append(artifacts.KERAS_NAME)
    return artifacts.write_manifest(
        out_dir,
        name=NAME,
        script_doc=__doc__,
        model=model,
        tflite=tflite,
        model_input=MODEL_INPUT,
        seed=seed,
        epochs=0,
        data=f"none (untrained); calibrated on {calibration_samples} generated images (seed {seed})",
        fp32_test_accuracy=None,
        int8_test_accuracy=None,
        int8_evaluation=(
            f"no accuracy (untrained); int8 vs fp32 top-1 agreement on {AGREEMENT_SAMPLES} generated images "
            f"(seed {seed + 1}), tf.lite interpreter"
        ),
        build_command="python -m quantize.models.mbv2",
        files=names,
        extra={
            "alpha": ALPHA,
            "int8_fp32_top1_agreement": float(np.mean(fp32_top1 == int8_top1)),
            "float_model_committed": save_keras,
        },
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT_DIR, help=f"output folder (default {OUT_DIR})")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--calibration-samples", type=int, default=CALIBRATION_SAMPLES)
    parser.add_argument("--save-keras", action="store_true", help="also write the float model.keras")
    args = parser.parse_args(argv)
    manifest = build(args.out, args.seed, args.calibration_samples, args.save_keras)
    print(
        f"{NAME}: {manifest.parameters} params, {manifest.macs} MACs, {manifest.int8_weight_bytes} int8 weight "
        f"bytes, {manifest.tflite_bytes} .tflite bytes -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
