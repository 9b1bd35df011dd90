"""The typed graph of an int8 model: tensors (shape, type, per-tensor or per-channel quantization,
constant data) and operators (op name, tensor indices, parsed options), as plain Python and numpy.

It is what parse_tflite (quantize/tflite_model.py) returns and what every later stage reads: the op
modules (quantize/ops/), the golden reference, the lowering, the training plan. It lives apart from
the parser so that the op modules, which the parser calls, can name these types.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quantize.errors import UnsupportedModelError


# -- tensors ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Quantization:
    """Affine quantization real = scale * (q - zero_point); one entry per channel of `axis`
    for per-channel tensors (convolution filters), else one entry."""

    scales: np.ndarray       # float32 [1] or [channels]
    zero_points: np.ndarray  # int64, same length as scales
    axis: int

    @property
    def per_channel(self) -> bool:
        return len(self.scales) > 1


@dataclass(frozen=True)
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str                         # "int8", "int32", "float32", ...
    quantization: Quantization | None
    data: np.ndarray | None            # constant contents in `shape`, None for activations

    @property
    def scale(self) -> float:
        """The per-tensor scale (float32 value, as a Python float)."""
        return float(self._quant().scales[0])

    @property
    def zero_point(self) -> int:
        return int(self._quant().zero_points[0])

    def _quant(self) -> Quantization:
        if self.quantization is None:
            raise UnsupportedModelError(f"tensor {self.index} ('{self.name}') is not quantized")
        return self.quantization


# -- operators ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Operator:
    index: int
    op: str                  # TFLite builtin name, e.g. "CONV_2D"
    inputs: tuple[int, ...]  # tensor indices; -1 for an omitted optional input (a missing bias)
    outputs: tuple[int, ...]
    options: object          # the op's options dataclass (quantize/ops/<op>.py), read by parse_tflite


@dataclass(frozen=True)
class Graph:
    tensors: tuple[Tensor, ...]
    operators: tuple[Operator, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]

    def tensor(self, index: int) -> Tensor:
        return self.tensors[index]

    @property
    def int8_input(self) -> int:
        """The int8 tensor the model's input arrives in: the graph input, or the output of the
        QUANTIZE that converts a float graph input."""
        for op in self.operators:
            if op.op == "QUANTIZE" and op.inputs[0] == self.inputs[0] and self.tensor(op.inputs[0]).dtype == "float32":
                return op.outputs[0]
        return self.inputs[0]

    @property
    def int8_output(self) -> int:
        """The int8 tensor holding the model's output: the graph output, or the input of the
        DEQUANTIZE that produces a float graph output."""
        for op in self.operators:
            if op.op == "DEQUANTIZE" and op.outputs[0] == self.outputs[0]:
                return op.inputs[0]
        return self.outputs[0]

    def converts_at_edge(self, op: Operator) -> bool:
        """Whether `op` converts at the model's edge rather than computing in int8: the QUANTIZE of
        a float input or the DEQUANTIZE of a float output. The host does those (mcutrain_datasets
        quantizes the input, logits are read as int8), so the device never runs them."""
        produced = op.outputs[0]
        return produced == self.int8_input or (produced in self.outputs and produced != self.int8_output)
