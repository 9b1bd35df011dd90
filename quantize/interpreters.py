"""The oracle of the forward pass: what TensorFlow's own interpreters compute for an int8 .tflite.

TFLite Micro's reference interpreter is the oracle. A model converted with a dynamic batch may hold
a dilated convolution as SPACE_TO_BATCH_ND -> convolution -> BATCH_TO_SPACE_ND: its intermediate
tensors keep their static batch-1 shapes, which TFLite Micro does not resize, so it convolves only
the first of the block's sub-images and BATCH_TO_SPACE_ND reads past it (an output that depends on
the arena's contents). For such a model TFLite Micro runs the same flatbuffer with each triple
rewritten as the one dilated convolution it computes (tflite_model.fold_dilations, the fold the
compiler makes). That the fold is the triple is checked against TFLite's own interpreter, which
resizes the intermediates (tflite_reference_outputs, its reference kernels: tests/test_forward_fidelity.py).
TFLite's interpreter is not the oracle itself: its requantization rounds differently from TFLite
Micro's now and then (one unit in a FULLY_CONNECTED output, measured on a generated model).
"""

from __future__ import annotations

import numpy as np

from quantize.dilated_fold import BLOCK_OPS
from quantize.tflite_model import fold_dilations, operator_names


def reference_outputs(tflite: bytes, x_int8: np.ndarray) -> np.ndarray:
    """int8 outputs [N, ...] of the model for int8 inputs [N, ...] (one sample per invocation)."""
    if any(name in BLOCK_OPS for name in operator_names(tflite)):
        tflite = fold_dilations(tflite)
    from tflite_micro.python.tflite_micro import runtime

    interpreter = runtime.Interpreter.from_bytes(tflite)
    out = []
    for sample in x_int8:
        interpreter.set_input(sample[None, ...], 0)
        interpreter.invoke()
        out.append(np.asarray(interpreter.get_output(0))[0].copy())
    return np.stack(out).astype(np.int8)


def tflite_reference_outputs(tflite: bytes, x_int8: np.ndarray) -> np.ndarray:
    """int8 outputs of TFLite's interpreter with its reference kernels (BUILTIN_REF), which runs a
    dynamic batch's SPACE_TO_BATCH_ND -> convolution -> BATCH_TO_SPACE_ND as written."""
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_content=tflite,
                                      experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_REF)
    interpreter.allocate_tensors()
    given, taken = interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]["index"]
    out = []
    for sample in x_int8:
        interpreter.set_tensor(given, sample[None, ...])
        interpreter.invoke()
        out.append(interpreter.get_tensor(taken)[0].copy())
    return np.stack(out).astype(np.int8)
