"""The oracle of the forward pass: what TensorFlow's own interpreters compute for an int8 .tflite.

TFLite Micro's reference interpreter is the oracle, except for a model converted with a dynamic
batch that holds a dilated convolution as SPACE_TO_BATCH_ND -> convolution -> BATCH_TO_SPACE_ND:
its intermediate tensors keep their static batch-1 shapes, which TFLite Micro does not resize, so
it convolves only the first of the block's sub-images and BATCH_TO_SPACE_ND reads past it (an
output that depends on the arena's contents). TFLite's interpreter resizes them; with its
reference kernels (BUILTIN_REF), whose integer arithmetic TFLite Micro's kernels share, it is the
oracle of those models (and pads SPACE_TO_BATCH_ND with the zero point, as the fold assumes).
"""

from __future__ import annotations

import numpy as np

from quantize.dilated_fold import BLOCK_OPS
from quantize.tflite_model import operator_names


def reference_outputs(tflite: bytes, x_int8: np.ndarray) -> np.ndarray:
    """int8 outputs [N, ...] of the model for int8 inputs [N, ...] (one sample per invocation)."""
    if any(name in BLOCK_OPS for name in operator_names(tflite)):
        return _tflite_reference_outputs(tflite, x_int8)
    from tflite_micro.python.tflite_micro import runtime

    interpreter = runtime.Interpreter.from_bytes(tflite)
    out = []
    for sample in x_int8:
        interpreter.set_input(sample[None, ...], 0)
        interpreter.invoke()
        out.append(np.asarray(interpreter.get_output(0))[0].copy())
    return np.stack(out).astype(np.int8)


def _tflite_reference_outputs(tflite: bytes, x_int8: np.ndarray) -> np.ndarray:
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
