"""The second oracle of the training step: TensorFlow's fp32 autodiff on the dequantized model.

The int8 graph is re-executed in float32 with TensorFlow ops (weights and biases dequantized,
fused ReLU/ReLU6 applied as clamps, standalone activations as their float functions), and the gradient of the same loss (softmax cross-entropy of
the logits) is taken with tf.GradientTape. The golden integer step must point the same way:
tests compare each trained tensor's first-step gradient by cosine similarity. Provenance of the
numbers: this file, on the graph parse_tflite returns.
"""

from __future__ import annotations

import numpy as np

from quantize.tflite_model import Graph


STANDALONE_ACTIVATIONS = ("RELU", "RELU6", "LEAKY_RELU", "LOGISTIC", "TANH", "HARD_SWISH")


def _dequantized(graph: Graph, index: int) -> np.ndarray:
    t = graph.tensor(index)
    q = t.quantization
    data = t.data.astype(np.float64)
    if t.dtype == "int32":  # bias: scale is the per-channel input * filter scale
        return (data * q.scales.astype(np.float64)).astype(np.float32)
    shape = [1] * data.ndim
    if len(q.scales) > 1:
        shape[q.axis] = -1
    scales = q.scales.astype(np.float64).reshape(shape)
    zero_points = q.zero_points.astype(np.float64).reshape(shape)
    return ((data - zero_points) * scales).astype(np.float32)


def _activation(tf, x, name: str, options=None):
    if name == "RELU":
        return tf.nn.relu(x)
    if name == "RELU6":
        return tf.clip_by_value(x, 0.0, 6.0)
    if name == "LEAKY_RELU":
        return tf.nn.leaky_relu(x, options.alpha)
    if name == "LOGISTIC":
        return tf.sigmoid(x)
    if name == "TANH":
        return tf.tanh(x)
    if name == "HARD_SWISH":  # Keras's hard_swish: x * relu6(x + 3) / 6
        return x * tf.nn.relu6(x + 3.0) / 6.0
    return x


def _dilated(tf, w, options):
    """A filter [KH, KW, ...] with its taps spread dilation rows and columns apart (zeros between):
    the dilated convolution as an ordinary one (TensorFlow's CPU kernels have no dilated gradient;
    SAME pads for the spread filter's size either way)."""
    dh, dw = options.dilation_h, options.dilation_w
    if (dh, dw) == (1, 1):
        return w
    kh, kw = w.shape[0], w.shape[1]
    rows = np.eye((kh - 1) * dh + 1, dtype=np.float32)[:, ::dh]  # [(KH - 1) * dh + 1, KH]
    cols = np.eye((kw - 1) * dw + 1, dtype=np.float32)[:, ::dw]
    return tf.einsum("ai,bj,ij...->ab...", rows, cols, w)


def autodiff_gradients(graph: Graph, x_int8: np.ndarray, label: int, trained: list[tuple[str, int]],
                       logits: int) -> dict:
    """dL/dW and dL/db (real values, TFLite layouts) of the trained tensors, keyed like
    GoldenTrainer.step's `gradients`: ("weights" | "bias", op index). `logits`: the tensor the loss
    reads (TrainingProgram.logits: a final SOFTMAX's input)."""
    import tensorflow as tf

    variables = {}
    for kind, op_index in trained:
        op = graph.operators[op_index]
        tensor = op.inputs[1] if kind == "weights" else op.inputs[2]
        variables[(kind, op_index)] = tf.Variable(_dequantized(graph, tensor))

    def param(op, position: int, kind: str):
        if position >= len(op.inputs) or op.inputs[position] < 0:
            return None
        return variables.get((kind, op.index), tf.constant(_dequantized(graph, op.inputs[position])))

    entry = graph.tensor(graph.int8_input)
    values = {entry.index: tf.constant(((x_int8.astype(np.float32).reshape(entry.shape) - entry.zero_point)
                                        * entry.scale).astype(np.float32))}
    with tf.GradientTape() as tape:
        for op in graph.operators:
            if op.op == "QUANTIZE" and op.outputs[0] == entry.index or op.op in ("DEQUANTIZE", "SOFTMAX"):
                continue
            x = values[op.inputs[0]]
            o = op.options
            if op.op == "CONV_2D":
                w = _dilated(tf, tf.transpose(param(op, 1, "weights"), (1, 2, 3, 0)), o)
                y = tf.nn.conv2d(x, w, (o.stride_h, o.stride_w), o.padding)
            elif op.op == "DEPTHWISE_CONV_2D":  # [1, KH, KW, C * M] is [KH, KW, C, M] (channel c * M + m)
                _, kh, kw, c_out = graph.tensor(op.inputs[1]).shape
                c_in = graph.tensor(op.inputs[0]).shape[-1]
                w = _dilated(tf, tf.reshape(param(op, 1, "weights"), (kh, kw, c_in, c_out // c_in)), o)
                y = tf.nn.depthwise_conv2d(x, w, (1, o.stride_h, o.stride_w, 1), o.padding)
            elif op.op == "FULLY_CONNECTED":
                y = tf.matmul(tf.reshape(x, (-1, graph.tensor(op.inputs[1]).shape[1])),
                              param(op, 1, "weights"), transpose_b=True)
            elif op.op == "ADD":
                y = x + values[op.inputs[1]]
            elif op.op in ("MUL", "SUB"):  # the second operand broadcast (TF's rules are TFLite's), or constant
                other = values.get(op.inputs[1])
                if other is None:
                    other = tf.constant(_dequantized(graph, op.inputs[1]))
                y = x * other if op.op == "MUL" else x - other
            elif op.op == "MEAN":
                y = tf.reduce_mean(x, axis=list(o.axes), keepdims=o.keep_dims)
            elif op.op == "RESHAPE":
                y = tf.reshape(x, graph.tensor(op.outputs[0]).shape)
            elif op.op == "PAD":
                y = tf.pad(x, o.paddings)
            elif op.op == "AVERAGE_POOL_2D":
                y = tf.nn.avg_pool2d(x, (o.filter_h, o.filter_w), (o.stride_h, o.stride_w), o.padding)
            elif op.op == "MAX_POOL_2D":
                y = tf.nn.max_pool2d(x, (o.filter_h, o.filter_w), (o.stride_h, o.stride_w), o.padding)
            elif op.op == "CONCATENATION":
                y = tf.concat([values[i] for i in op.inputs], axis=o.axis)
            elif op.op == "STRIDED_SLICE":
                begin = [0] * len(x.shape)
                begin[o.axis] = o.begin
                y = tf.slice(x, begin, graph.tensor(op.outputs[0]).shape)
            elif op.op == "QUANTIZE":
                y = x
            elif op.op in STANDALONE_ACTIVATIONS:  # the float function the int8 op stands for
                y = _activation(tf, x, op.op, o)
            else:
                raise NotImplementedError(op.op)
            bias = param(op, 2, "bias") if op.op in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED") else None
            if bias is not None:
                y = y + bias
            values[op.outputs[0]] = _activation(tf, y, getattr(o, "activation", "NONE"))
        loss = tf.nn.sparse_softmax_cross_entropy_with_logits([label], tf.reshape(values[logits], (1, -1)))
    keys = list(variables)
    grads = tape.gradient(loss, [variables[k] for k in keys])
    return {k: g.numpy() for k, g in zip(keys, grads)}


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    denominator = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / denominator) if denominator else (1.0 if not a.any() and not b.any() else 0.0)
