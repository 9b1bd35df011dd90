"""The int8 graph's fp32 twin in TensorFlow: the contribution analysis's simulator.

The device trains one sample at a time in integers; the golden reference (quantize/training/)
does the same on the host at a few milliseconds a step, too slow to try a hundred candidate
updates. The twin runs the same graph in float32, in mini-batches:
- parameters are the int8 model's own, dequantized (weights * per-channel scale; bias * input
  scale * weight scale), so it starts from exactly the model the device holds;
- activations are real values (int8 value - zero point) * scale, each op's output clamped to what
  its int8 tensor can represent (which is also where the device's backward masks cut the error);
- a trained layer updates only its planned output channels (gradient masks), and a layer with
  gradient filter r takes the filtered gradients of firmware/lib/train/README.md ("Gradient
  filtering") in float: the error summed per r x r patch, every tap's weight gradient
  sum_P eb * mean_P(x), the input error the patch's mean error times the spatially summed kernel,
  broadcast over the patch; the bias sees the unfiltered error.
The layers before the first trained one do not change during a candidate's training, so their
output is computed once per starting layer and reused (`prefix`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quantize.errors import PlanError
from quantize.graph import Graph, Operator
from quantize.training_plan import PARAMETRIC_OPS

# The ops the twin runs; anything else is refused naming the operator.
TWIN_OPS = (*PARAMETRIC_OPS, "ADD", "MEAN", "PAD", "AVERAGE_POOL_2D", "MAX_POOL_2D", "RESHAPE", "SOFTMAX",
            "DEQUANTIZE", "QUANTIZE")


@dataclass(frozen=True)
class TwinLayer:
    """One trained layer of a candidate: the first `channels` output channels of its weights
    and/or bias, with gradient filter r."""

    op: int
    weights: bool
    bias: bool
    channels: int
    r: int = 1


def _tf():
    import tensorflow as tf

    return tf


class FloatTwin:
    def __init__(self, graph: Graph):
        tf = _tf()
        self.graph = graph
        for op in graph.operators:
            if op.op not in TWIN_OPS:
                raise PlanError(f"operator {op.index} is {op.op}, which the contribution analysis's float twin "
                                f"does not run (it runs {', '.join(TWIN_OPS)})")
        self.entry = graph.tensor(graph.int8_input)
        last = graph.operators[-1]
        self.logits = last.inputs[0] if last.op in ("SOFTMAX", "DEQUANTIZE") else last.outputs[0]
        self.initial: dict[int, np.ndarray] = {}  # tensor index -> float32 value in TensorFlow's layout
        for op in graph.operators:
            if op.op in PARAMETRIC_OPS:
                w, x = graph.tensor(op.inputs[1]), graph.tensor(op.inputs[0])
                scales = w.quantization.scales.astype(np.float64)
                channels = graph.tensor(op.outputs[0]).shape[-1]
                scales = np.repeat(scales, channels) if scales.size == 1 else scales
                self.initial[w.index] = self._kernel(op, w.data.astype(np.float64), scales).astype(np.float32)
                if len(op.inputs) > 2 and op.inputs[2] >= 0:
                    b = graph.tensor(op.inputs[2]).data.astype(np.float64)
                    self.initial[op.inputs[2]] = (b * x.scale * scales).astype(np.float32)
        self.variables = {index: tf.Variable(value) for index, value in self.initial.items()}
        self._steps: dict = {}
        self._prefixes: dict = {}
        self._forwards: dict = {}

    @staticmethod
    def _kernel(op: Operator, w: np.ndarray, scales: np.ndarray) -> np.ndarray:
        """TFLite's filter layout to TensorFlow's: conv [O,KH,KW,I] -> [KH,KW,I,O]; depthwise
        [1,KH,KW,C*M] -> [KH,KW,C,M]; fully connected [O,I] -> [I,O]; scaled per output channel."""
        if op.op == "FULLY_CONNECTED":
            return (w * scales[:, None]).T
        if op.op == "DEPTHWISE_CONV_2D":
            m = op.options.depth_multiplier
            return (w * scales)[0].reshape(w.shape[1], w.shape[2], w.shape[3] // m, m)
        return (w * scales[:, None, None, None]).transpose(1, 2, 3, 0)

    # -- data ---------------------------------------------------------------------------------

    def real_input(self, x_int8: np.ndarray) -> np.ndarray:
        """int8 samples [N, ...] as the real values the first layer sees."""
        shape = (len(x_int8), *self.entry.shape[1:])
        return ((x_int8.astype(np.float32) - self.entry.zero_point) * self.entry.scale).reshape(shape)

    def reset(self) -> None:
        for index, variable in self.variables.items():
            variable.assign(self.initial[index])

    def live_at(self, start: int) -> list[int]:
        """The activation tensors produced before operator `start` (or the input) that it or a
        later operator reads: what a run starting at `start` needs."""
        produced = {self.entry.index} | {o for op in self.graph.operators[:start] for o in op.outputs}
        read = {i for op in self.graph.operators[start:] for i in op.inputs if i in produced}
        return sorted(read | ({self.logits} & produced))

    def prefix(self, x_real: np.ndarray, start: int, batch: int = 500) -> dict[int, np.ndarray]:
        """live_at(start)'s values for every sample, with the model's own (initial) parameters.
        Cached per (samples, start), and computed from the latest cached start before it (the
        analysis starts many candidates at the same layer; a large model's early layers run once)."""
        key = (id(x_real), start)
        if key not in self._prefixes:
            earlier = [s for (x_id, s) in self._prefixes if x_id == id(x_real) and s <= start]
            base = max(earlier, default=0)
            values = self._prefixes[(id(x_real), base)] if earlier else {self.entry.index: x_real}
            live = self.live_at(start)
            parts: dict[int, list] = {t: [] for t in live}
            for i in range(0, len(x_real), batch):
                computed = self._forward({t: v[i:i + batch] for t, v in values.items()}, base, start)
                for t in live:
                    parts[t].append(np.asarray(computed[t]))
            self._prefixes[key] = {t: np.concatenate(chunks) for t, chunks in parts.items()}
        return self._prefixes[key]

    # -- the forward pass ---------------------------------------------------------------------

    def run(self, values: dict, start: int, filters: dict[int, int], stop: int | None = None) -> dict:
        """Runs operators start..stop-1 on `values` (tensor index -> real values, batched), the
        ones in `filters` (op -> r) with filtered gradients; returns every value."""
        tf = _tf()
        values = dict(values)
        for op in self.graph.operators[start:stop]:
            if op.outputs[0] == self.entry.index or op.op in ("SOFTMAX", "DEQUANTIZE"):
                continue
            x = values[op.inputs[0]]
            y = self._op(tf, op, x, values, filters.get(op.index, 1))
            out = self.graph.tensor(op.outputs[0])
            if op.op not in ("RESHAPE", "PAD", "MAX_POOL_2D"):  # these cannot leave the input's range
                lo, hi = (-128 - out.zero_point) * out.scale, (127 - out.zero_point) * out.scale
                y = tf.clip_by_value(y, lo, hi)
            values[op.outputs[0]] = y
        return values

    def _op(self, tf, op: Operator, x, values: dict, r: int):
        opts = op.options
        out_shape = self.graph.tensor(op.outputs[0]).shape
        if op.op in PARAMETRIC_OPS:
            w = self.variables[op.inputs[1]]
            if op.op == "FULLY_CONNECTED":
                y = tf.matmul(tf.reshape(x, (-1, w.shape[0])), w)
            elif r > 1:
                y = _filtered_conv(tf, x, w, opts, r, op.op == "DEPTHWISE_CONV_2D")
            else:
                y = _conv(tf, x, w, opts, op.op == "DEPTHWISE_CONV_2D")
            if len(op.inputs) > 2 and op.inputs[2] >= 0:
                y = y + self.variables[op.inputs[2]]
            return _activation(tf, y, opts.activation)
        if op.op == "ADD":
            return _activation(tf, x + values[op.inputs[1]], opts.activation)
        if op.op == "MEAN":
            return tf.reshape(tf.reduce_mean(x, axis=list(opts.axes)), (-1, *out_shape[1:]))
        if op.op == "PAD":
            return tf.pad(x, opts.paddings)
        if op.op in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
            pool = tf.nn.avg_pool2d if op.op == "AVERAGE_POOL_2D" else tf.nn.max_pool2d
            y = pool(x, (opts.filter_h, opts.filter_w), (opts.stride_h, opts.stride_w), opts.padding)
            return _activation(tf, y, opts.activation)
        assert op.op == "RESHAPE"
        return tf.reshape(x, (-1, *out_shape[1:]))

    # -- training -----------------------------------------------------------------------------

    def _forward(self, values: dict, start: int, stop: int) -> dict:
        """Operators start..stop-1 with the initial parameters, compiled once per (start, stop)."""
        if (start, stop) not in self._forwards:
            self._forwards[(start, stop)] = _compiled(lambda v: self.run(v, start, {}, stop=stop))
        return self._forwards[(start, stop)](values)

    def accuracy(self, values: dict, y: np.ndarray, start: int, batch: int = 500) -> float:
        """Top-1 accuracy of the current parameters on prefix values `values` (from `start`)."""
        if ("logits", start) not in self._forwards:
            self._forwards[("logits", start)] = _compiled(lambda v: self.run(v, start, {})[self.logits])
        run = self._forwards[("logits", start)]
        correct = 0
        for i in range(0, len(y), batch):
            logits = np.asarray(run({t: v[i:i + batch] for t, v in values.items()}))
            correct += int(np.sum(np.argmax(logits.reshape(len(logits), -1), axis=1) == y[i:i + batch]))
        return correct / len(y)

    def train(self, layers: tuple[TwinLayer, ...], values: dict, y: np.ndarray, start: int, epochs: int,
              batch: int, lr: float, seed: int) -> None:
        """Adam on mini-batches (shuffled from `seed`) over `layers`' planned channels, from prefix
        values `values`. Adam rather than the device's plain SGD: a few dozen steps must move
        biases, 1x1 and depthwise kernels alike, whose gradients differ by orders of magnitude."""
        tf = _tf()
        masks, trained = self._masks(layers)
        filters = {layer.op: layer.r for layer in layers if layer.r > 1}
        step = self._step(start, tuple(trained), tuple(sorted(filters.items())))
        moments = [[tf.zeros_like(self.variables[t]) for t in trained] for _ in range(2)]
        masks = [tf.constant(m) for m in masks]
        order = np.random.default_rng(seed)
        count = 0
        for _ in range(epochs):
            perm = order.permutation(len(y))
            for i in range(0, len(y) - batch + 1, batch):  # whole batches: one traced shape
                idx = perm[i:i + batch]
                count += 1
                moments = step({t: tf.constant(v[idx]) for t, v in values.items()}, tf.constant(y[idx]), masks,
                               moments, tf.constant(lr, tf.float32), tf.constant(count, tf.float32))

    def _masks(self, layers: tuple[TwinLayer, ...]) -> tuple[list[np.ndarray], list[int]]:
        masks, trained = [], []
        for layer in layers:
            op = self.graph.operators[layer.op]
            for flag, tensor in ((layer.weights, op.inputs[1]), (layer.bias, op.inputs[2] if len(op.inputs) > 2
                                                                  else -1)):
                if not flag or tensor < 0:
                    continue
                shape = self.initial[tensor].shape
                mask = np.zeros(shape, np.float32)
                axis = 2 if op.op == "DEPTHWISE_CONV_2D" and tensor == op.inputs[1] else len(shape) - 1
                index = [slice(None)] * len(shape)
                index[axis] = slice(0, layer.channels)
                mask[tuple(index)] = 1.0
                masks.append(mask)
                trained.append(tensor)
        return masks, trained

    def _step(self, start: int, trained: tuple[int, ...], filters: tuple[tuple[int, int], ...]):
        """The compiled training step for this start, trained tensors and filters (cached)."""
        key = (start, trained, filters)
        if key not in self._steps:
            tf = _tf()
            variables = [self.variables[t] for t in trained]
            filter_map = dict(filters)

            @_compiled
            def step(values, labels, masks, moments, lr, count):
                with tf.GradientTape() as tape:
                    logits = self.run(values, start, filter_map)[self.logits]
                    logits = tf.reshape(logits, (tf.shape(labels)[0], -1))
                    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
                grads = tape.gradient(loss, variables)
                first, second = [], []
                correction = tf.sqrt(1.0 - 0.999 ** count) / (1.0 - 0.9 ** count)
                for variable, grad, mask, m, v in zip(variables, grads, masks, *moments):
                    m = 0.9 * m + 0.1 * grad * mask
                    v = 0.999 * v + 0.001 * tf.square(grad * mask)
                    variable.assign_sub(lr * correction * m / (tf.sqrt(v) + 1e-7))
                    first.append(m)
                    second.append(v)
                return [first, second]

            self._steps[key] = step
        return self._steps[key]


def _compiled(function):
    """A TensorFlow graph function of `function`. Without AutoGraph: the twin's Python loops and
    branches are over the model's structure, fixed when tracing, and AutoGraph would re-read the
    source from disk (a file edited during a run breaks the trace)."""
    return _tf().function(function, autograph=False, reduce_retracing=True)


def _activation(tf, y, activation: str):
    if activation == "RELU":
        return tf.nn.relu(y)
    if activation == "RELU6":
        return tf.clip_by_value(y, 0.0, 6.0)
    return y


def _conv(tf, x, w, opts, depthwise: bool):
    strides = (1, opts.stride_h, opts.stride_w, 1)
    if depthwise:
        return tf.nn.depthwise_conv2d(x, w, strides, opts.padding, dilations=(opts.dilation_h, opts.dilation_w))
    return tf.nn.conv2d(x, w, strides, opts.padding, dilations=(1, opts.dilation_h, opts.dilation_w, 1))


def _filtered_conv(tf, x, w, opts, r: int, depthwise: bool):
    """A stride-1 conv whose gradients are gradient filtering's (module docstring)."""

    @tf.custom_gradient
    def conv(x, w):
        def grad(dy):
            height, width = x.shape[1], x.shape[2]
            count = _patch_counts(tf, height, width, r)
            e_sum = _patch_sums(tf, dy, r)
            e_mean = e_sum / count                      # the patch's mean error (clipped patches too)
            x_mean = _patch_sums(tf, x, r) / count
            kh, kw = w.shape[0], w.shape[1]
            if depthwise:
                per_channel = tf.reduce_sum(e_sum * x_mean, axis=(0, 1, 2))        # [C]
                dw = tf.broadcast_to(per_channel[None, None, :, None], w.shape)
                v = e_mean * tf.reduce_sum(w, axis=(0, 1))[:, 0]
            else:
                per_pair = tf.einsum("nhwi,nhwo->io", x_mean, e_sum)                # [I, O]
                dw = tf.broadcast_to(per_pair[None, None], (kh, kw, *per_pair.shape))
                v = tf.einsum("nhwo,io->nhwi", e_mean, tf.reduce_sum(w, axis=(0, 1)))
            v = tf.repeat(tf.repeat(v, r, axis=1), r, axis=2)[:, :height, :width]
            return v, dw

        return _conv(tf, x, w, opts, depthwise), grad

    return conv(x, w)


def _patch_counts(tf, height: int, width: int, r: int):
    """Elements per r x r patch ([1, Hp, Wp, 1]); the last row and column of patches are clipped
    when H or W is not a multiple of r."""
    rows = [min(r, height - i) for i in range(0, height, r)]
    cols = [min(r, width - j) for j in range(0, width, r)]
    return tf.constant(np.outer(rows, cols).astype(np.float32)[None, :, :, None])


def _patch_sums(tf, t, r: int):
    """Sums over r x r patches anchored at (0, 0) ([N, ceil(H/r), ceil(W/r), C]): zeros padded
    after the last row and column, so a clipped patch sums only its own elements."""
    height, width = t.shape[1], t.shape[2]
    padded = tf.pad(t, ((0, 0), (0, -height % r), (0, -width % r), (0, 0)))
    return tf.nn.avg_pool2d(padded, r, r, "VALID") * float(r * r)
