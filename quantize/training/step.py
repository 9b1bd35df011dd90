"""The golden reference of one training step: numpy, exactly the firmware's integer arithmetic
(firmware/lib/train/README.md). It runs a TrainingProgram (program.py) on the parsed graph and
keeps its own copy of the trainable parameters, updated in place like the device's."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quantize import golden, prepare
from quantize.blob_format import dims4
from quantize.tflite_model import Graph, Operator
from quantize.training import backward
from quantize.training.numerics import (
    Xorshift32,
    bias_delta,
    fixed_factor,
    logit_error,
    loss_q16,
    normalise,
    softmax_q31,
    update_bias,
    update_weights,
    weight_delta,
)
from quantize.training.program import ACCUMULATE, ACTIVATIONS, PARAMETRIC, BackwardStep, TrainingProgram


@dataclass(frozen=True)
class StepResult:
    loss_q16: int     # cross-entropy, 16.16 fixed point
    predicted: int    # argmax of the logits before the update
    correct: bool
    logits: np.ndarray


def _window(graph: Graph, op: Operator) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """(stride, leading padding, dilation) of a convolution; FULLY_CONNECTED's as a 1x1's."""
    if op.op in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        p = prepare.conv(graph, op)
        return (p.stride_h, p.stride_w), (p.pad_top, p.pad_left), (p.dilation_h, p.dilation_w)
    return (1, 1), (0, 0), (1, 1)


class GoldenTrainer:
    """The device's training state on the host: trainable parameters and the PRNG."""

    def __init__(self, graph: Graph, program: TrainingProgram, seed: int = 1):
        self.graph = graph
        self.program = program
        self.prng = Xorshift32(seed)
        self.seed = seed
        self.gradient_filter = True  # SET_CONFIG's flag: the plan's gradient filters in force
        self.params: dict[int, np.ndarray] = {}
        for step in program.steps:
            op = graph.operators[step.op]
            if step.weights:
                self.params[op.inputs[1]] = graph.tensor(op.inputs[1]).data.copy()
            if step.bias:
                self.params[op.inputs[2]] = graph.tensor(op.inputs[2]).data.copy()

    def configure(self, seed: int, gradient_filter: bool = True) -> None:
        """SET_CONFIG's seed and gradient-filter flag: the draws restart from the seed only when it
        differs from the one in force (firmware Trainer::configure)."""
        self.gradient_filter = gradient_filter
        if seed != self.seed:
            self.prng = Xorshift32(seed)
        self.seed = seed

    def load_region(self, layout: list[tuple[int, int, int]], region: bytes) -> None:
        """CHECKPOINT_WRITE: the trained tensors take their values from the device's trainable region
        (trainable_region's inverse)."""
        for tensor, offset, _ in layout:
            if tensor in self.params:
                held = self.params[tensor]
                self.params[tensor] = np.frombuffer(region, held.dtype.newbyteorder("<"), held.size,
                                                    offset).reshape(held.shape).astype(held.dtype)

    def forward(self, x: np.ndarray) -> dict[int, np.ndarray]:
        return golden.run_forward(self.graph, x, self.params)

    def infer(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)[self.program.logits].reshape(-1)

    def step(self, x: np.ndarray, label: int, lr: float, gradients: dict | None = None) -> StepResult:
        """One sample: forward, loss, backward with in-place updates (README "Updates").
        `gradients`, when given, receives each trained tensor's gradient before QAS, learning rate
        and rounding, as real values dL/dW and dL/db keyed by ("weights"|"bias", op index)."""
        values = self.forward(x)
        logits = values[self.program.logits].reshape(-1)
        if not 0 <= label < logits.size:
            raise ValueError(f"label {label}: expected 0..{logits.size - 1}")
        predicted = int(np.argmax(logits))
        p31 = softmax_q31(self.program.softmax, logits)
        loss = loss_q16(int(p31[label]))
        errors: dict[int, tuple[np.ndarray, int]] = {0: logit_error(p31, label)}  # slot -> (e, k)
        for step in self.program.steps:
            if step.kind == ACCUMULATE:
                (a, ka), (b, kb) = errors[step.out_error], errors.pop(step.in_errors[0])
                errors[step.out_error] = normalise(*backward.accumulate(a, ka, b, kb))
                continue
            e, k = errors[step.out_error]  # CONCATENATION's per-input steps all read it
            for slot, error in zip(step.in_errors, self._backward(step, values, e, k, lr, gradients)):
                if slot is not None:
                    errors[slot] = error
        return StepResult(loss, predicted, predicted == label, logits)

    def _backward(self, step: BackwardStep, values: dict[int, np.ndarray], e: np.ndarray, k: int,
                  lr: float, gradients: dict | None) -> list[tuple[np.ndarray, int] | None]:
        """One op's backward step with its updates; returns the error at each activation input (None
        where the program needs none)."""
        op = self.graph.operators[step.op]
        x, y = values[op.inputs[0]], values[op.outputs[0]]
        e = e.reshape(y.shape)
        if step.mask:
            e = backward.apply_mask(e, y, step.act_min, step.act_max)
        if step.kind == "ADD":
            return [(e.copy(), k), (e.copy(), k)]
        if step.kind in ("MUL", "SUB"):
            return self._element_wise(step, op, values, e, k)
        if step.kind == "CONCATENATION":  # this input's part of the output error
            return [(backward.concatenation_part(e, op.options.axis, [values[t].shape[op.options.axis] for t in
                                                                      op.inputs], step.input), k)]
        if step.kind == "STRIDED_SLICE":  # the output error in its range, zero elsewhere
            return [(backward.slice_input_error(e, op.options.axis, op.options.begin, x.shape), k)]
        if step.kind == "RESHAPE":
            return [(e.reshape(x.shape), k)]
        if step.kind in ACTIVATIONS:  # masked above
            return [(e.copy(), k)]
        if step.derivative is not None:
            return [normalise(backward.derivative_input_error(e, x, step.derivative), k + step.back_exponent)]
        if step.kind == "PAD":
            return [(backward.pad_input_error(e, op.options.paddings), k)]
        if step.kind == "MEAN":
            v = backward.mean_input_error(e, x.shape, op.options.axes, step.mean_reciprocal)
            return [normalise(v, k + 16)]
        if step.kind == "MAX_POOL_2D":
            p = prepare.pool(self.graph, op)
            v = backward.max_pool_input_error(e, x, (p.filter_h, p.filter_w), (p.stride_h, p.stride_w),
                                              (p.pad_top, p.pad_left))
            return [normalise(v, k)]
        if step.kind == "AVERAGE_POOL_2D":
            p = prepare.pool(self.graph, op)
            v = backward.average_pool_input_error(e, (p.filter_h, p.filter_w), (p.stride_h, p.stride_w),
                                                  (p.pad_top, p.pad_left), x.shape)
            return [normalise(v, k + 16)]
        assert step.kind in PARAMETRIC
        return [self._parametric(step, op, x, e, k, lr, gradients)]

    def _element_wise(self, step: BackwardStep, op: Operator, values: dict[int, np.ndarray], e: np.ndarray,
                      k: int) -> list[tuple[np.ndarray, int] | None]:
        """MUL and SUB, either input possibly broadcast (README "MUL", "SUB"): each needed input's
        error, summed over its broadcast dimensions."""
        e4 = e.reshape(dims4(e.shape))
        operands = [values[i].reshape(dims4(values[i].shape)) for i in op.inputs[:2]]
        shapes = [values[i].shape for i in op.inputs[:2]]
        out: list[tuple[np.ndarray, int] | None] = []
        for position, slot in enumerate(step.in_errors):
            if slot is None:
                out.append(None)
            elif step.kind == "SUB":  # y = a - b: the error to b is negated
                sign = 1 if position == 0 else -1
                out.append(normalise(backward.broadcast_sum(sign * e4.astype(np.int64), shapes[position]), k))
            else:  # y = a * b: dL/da = e * b
                other = op.inputs[1 - position]
                multiplier, exponent = step.operand_factors[2 * position:2 * position + 2]
                v = backward.mul_input_error(e4, operands[1 - position], self.graph.tensor(other).zero_point,
                                             multiplier, shapes[position])
                out.append(normalise(v, k + exponent))
        return out

    def _parametric(self, step: BackwardStep, op: Operator, x: np.ndarray, e: np.ndarray, k: int, lr: float,
                    gradients: dict | None) -> tuple[np.ndarray, int] | None:
        """CONV_2D, DEPTHWISE_CONV_2D or FULLY_CONNECTED: the input error (with the weights before
        this step's update), then the bias and weight updates of the planned channels."""
        depthwise = step.kind == "DEPTHWISE_CONV_2D"
        stride, pad, dilation = _window(self.graph, op)
        w_index = op.inputs[1]
        w = self.params.get(w_index, self.graph.tensor(w_index).data)
        xc, wc, ec = backward.as_conv(x, w, e)
        zero_point = self.graph.tensor(op.inputs[0]).zero_point
        r = step.gradient_filter
        filtered = r > 1 and self.gradient_filter  # README "Gradient filtering"
        if filtered:
            eb, kb = normalise(backward.patch_sums(ec, r), k)
        out = None
        if step.input_error:
            if filtered:
                v = backward.filtered_input_error(eb, wc, step.back_multiplier, depthwise, r, xc.shape)
                out = normalise(v.reshape(x.shape), kb + step.back_exponent + 16)
            else:
                input_error = backward.depthwise_input_error if depthwise else backward.conv_input_error
                v = input_error(ec, wc, step.back_multiplier, stride, pad, xc.shape, dilation)
                out = normalise(v.reshape(x.shape), k + step.back_exponent)
        if step.bias:
            bias = self.params[op.inputs[2]]
            gradient = backward.bias_gradient(ec)
            if gradients is not None:
                gradients[("bias", op.index)] = gradient * 2.0 ** -k
            for o in step.channels:
                m, ex = fixed_factor(lr, step.qas_bias[o])
                bias[o] = update_bias(bias[o:o + 1], bias_delta(gradient[o:o + 1], m, ex, k))[0]
        if step.weights:
            if r > 1:  # the forward pass kept only the input's patch means
                means = backward.patch_means(xc, r)
                patch_error, kw = (eb.astype(np.int64), kb) if filtered else (backward.patch_sums(ec, r), k)
                gradient = backward.patch_weight_gradient(patch_error, means, zero_point, wc.shape, depthwise)
            else:
                weight_gradient = backward.depthwise_weight_gradient if depthwise else backward.conv_weight_gradient
                gradient, kw = weight_gradient(ec, xc, zero_point, wc.shape, stride, pad, dilation), k
            if gradients is not None:
                gradients[("weights", op.index)] = (gradient * 2.0 ** -kw * self.graph.tensor(op.inputs[0]).scale
                                                    ).reshape(w.shape)
            # One channel's elements in draw order (README "Updates"): conv [o][kh][kw][c_in];
            # depthwise channel-major, a channel's taps i then j. `per_channel` views self.params.
            per_channel = w.reshape(w.shape[0], -1) if not depthwise else w[0].transpose(2, 0, 1)
            gradient = gradient.reshape(gradient.shape[0], -1) if not depthwise else gradient[0].transpose(2, 0, 1)
            for o in step.channels:
                m, ex = fixed_factor(lr, step.qas_weight[o])
                row = per_channel[o]
                draws = self.prng.draws(row.size)
                row[...] = update_weights(row.reshape(-1), weight_delta(gradient[o].reshape(-1), m, ex, kw, draws)
                                          ).reshape(row.shape)
        return out


def trainable_region(layout: list[tuple[int, int, int]], size: int, params: dict[int, np.ndarray],
                     graph: Graph) -> bytes:
    """The device's trainable region (LoweredModel.trainable_layout) holding `params` (tensor
    index -> array; the graph's own constants for tensors not in it)."""
    region = bytearray(size)
    for tensor, offset, nbytes in layout:
        array = params.get(tensor, graph.tensor(tensor).data)
        payload = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()
        assert len(payload) == nbytes
        region[offset:offset + nbytes] = payload
    return bytes(region)
