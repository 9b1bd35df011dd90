"""Full-integer int8 conversion with the real TFLite converter.

Every int8 model in mcutrain comes from here: per-channel int8 weights, int32 biases, int8 input
and output, and only TFLITE_BUILTINS_INT8 ops, so that the result runs on TFLite Micro and on the
firmware with no float kernels.
"""

from __future__ import annotations

from typing import Callable, Iterable

import numpy as np


def convert_keras_to_int8(model, calibration: np.ndarray, max_samples: int = 500) -> bytes:
    """Convert a Keras model to a full-integer int8 .tflite flatbuffer.

    model: a tf.keras.Model with one float32 input.
    calibration: float32 array [N, ...input shape] of representative inputs, already scaled
        exactly as at training time; the first `max_samples` are used to calibrate activations.
    """
    import tensorflow as tf

    samples = np.asarray(calibration, dtype=np.float32)[:max_samples]
    if samples.shape[1:] != tuple(model.input_shape[1:]):
        raise ValueError(
            f"calibration data has shape {samples.shape[1:]}, the model input is {model.input_shape[1:]}"
        )

    # A fixed batch of 1: with a dynamic batch, Flatten and similar layers become SHAPE /
    # STRIDED_SLICE / PACK ops computing the batch at run time; with batch 1 they are one RESHAPE.
    import keras

    inputs = keras.Input(batch_size=1, shape=model.input_shape[1:])
    fixed_batch = keras.Model(inputs, model(inputs))
    converter = tf.lite.TFLiteConverter.from_keras_model(fixed_batch)
    return _convert_int8(converter, _representative(samples, max_samples))


def convert_plain_recipe(model, calibration: np.ndarray, max_samples: int = 500) -> bytes:
    """The int8 conversion as TFLite's own full-integer recipe writes it: the Keras model as it
    is, its batch dynamic (what users bring; the tests' oracle for compile's shape folding)."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    return _convert_int8(converter, _representative(calibration, max_samples))


def convert_saved_model_to_int8(path: str, calibration: np.ndarray, max_samples: int = 500) -> bytes:
    """Like convert_keras_to_int8, for a SavedModel folder."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(path)
    return _convert_int8(converter, _representative(calibration, max_samples))


def _representative(calibration: np.ndarray, max_samples: int) -> Callable[[], Iterable[list[np.ndarray]]]:
    """The converter's representative dataset: the first max_samples samples, one at a time."""
    samples = np.asarray(calibration, dtype=np.float32)[:max_samples]

    def representative() -> Iterable[list[np.ndarray]]:
        for sample in samples:
            yield [sample[None, ...]]
    return representative


def _convert_int8(converter, representative) -> bytes:
    import tensorflow as tf

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter.convert()
