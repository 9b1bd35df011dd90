"""The golden reference of one training step: numpy, exactly the firmware's integer arithmetic
(firmware/lib/train/README.md). It runs a TrainingProgram (program.py) on the parsed graph and
keeps its own copy of the trainable parameters, updated in place like the device's."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quantize import golden, prepare
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
from quantize.training.program import PARAMETRIC, BackwardStep, TrainingProgram


@dataclass(frozen=True)
class StepResult:
    loss_q16: int     # cross-entropy, 16.16 fixed point
    predicted: int    # argmax of the logits before the update
    correct: bool
    logits: np.ndarray


def _stride_pad(graph: Graph, op: Operator) -> tuple[tuple[int, int], tuple[int, int]]:
    if op.op == "CONV_2D":
        p = prepare.conv(graph, op)
        return (p.stride_h, p.stride_w), (p.pad_top, p.pad_left)
    return (1, 1), (0, 0)


class GoldenTrainer:
    """The device's training state on the host: trainable parameters and the PRNG."""

    def __init__(self, graph: Graph, program: TrainingProgram, seed: int = 1):
        self.graph = graph
        self.program = program
        self.prng = Xorshift32(seed)
        self.seed = seed
        self.params: dict[int, np.ndarray] = {}
        for step in program.steps:
            op = graph.operators[step.op]
            if step.weights:
                self.params[op.inputs[1]] = graph.tensor(op.inputs[1]).data.copy()
            if step.bias:
                self.params[op.inputs[2]] = graph.tensor(op.inputs[2]).data.copy()

    def configure(self, seed: int) -> None:
        """SET_CONFIG's seed: the draws restart from it only when it differs from the one in force
        (firmware Trainer::configure)."""
        if seed != self.seed:
            self.prng = Xorshift32(seed)
        self.seed = seed

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
        error, exponent = logit_error(p31, label)
        for step in self.program.steps:
            error, exponent = self._backward(step, values, error, exponent, lr, gradients)
        return StepResult(loss, predicted, predicted == label, logits)

    def _backward(self, step: BackwardStep, values: dict[int, np.ndarray], e: np.ndarray, k: int,
                  lr: float, gradients: dict | None) -> tuple[np.ndarray | None, int]:
        """One op's backward step; returns the error at its input (None when the chain ends)."""
        op = self.graph.operators[step.op]
        x, y = values[op.inputs[0]], values[op.outputs[0]]
        e = e.reshape(y.shape)
        if step.mask:
            e = backward.apply_mask(e, y, step.act_min, step.act_max)
        if step.kind == "RESHAPE":
            return e.reshape(x.shape), k
        if step.kind == "MEAN":
            v = backward.mean_input_error(e.reshape(x.shape[0], x.shape[3]), x.shape, step.mean_reciprocal)
            return normalise(v, k + 16)
        assert step.kind in PARAMETRIC
        stride, pad = _stride_pad(self.graph, op)
        w_index = op.inputs[1]
        w = self.params.get(w_index, self.graph.tensor(w_index).data)
        xc, wc, ec = backward.as_conv(x, w, e)
        out: tuple[np.ndarray | None, int] = (None, k)
        if step.input_error:
            v = backward.conv_input_error(ec, wc, step.back_multiplier, stride, pad, xc.shape)
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
            gradient = backward.conv_weight_gradient(ec, xc, self.graph.tensor(op.inputs[0]).zero_point, wc.shape,
                                                     stride, pad)
            if gradients is not None:
                gradients[("weights", op.index)] = (gradient * 2.0 ** -k * self.graph.tensor(op.inputs[0]).scale
                                                    ).reshape(w.shape)
            flat = w.reshape(w.shape[0], -1)  # a view: updates land in self.params
            for o in step.channels:
                m, ex = fixed_factor(lr, step.qas_weight[o])
                draws = self.prng.draws(flat.shape[1])
                flat[o] = update_weights(flat[o], weight_delta(gradient[o].reshape(-1), m, ex, k, draws))
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
