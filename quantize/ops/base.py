"""What an op module gives the registry (OpDef), and what the lowering gives an op (LoweringContext).

Every stage of the host handles an op through its OpDef alone: the parser reads and validates its
options, the golden reference runs its kernel, the lowering writes its blob op, the training plan
asks whether it has parameters, the memory planner whether it may run in place. Adding an op is one
module and one line in the registry; the backward pass will be one more field here, not new
switches in every stage.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Protocol

import numpy as np

from quantize.blob_format import OpCode
from quantize.graph import Graph, Operator, Tensor
from quantize.layout import Layout

if TYPE_CHECKING:
    from quantize.blob import BlobBuilder
    from quantize.training_plan import TrainingPlan

# The raw options table of one operator as tflite-micro's schema bindings decode it (an
# XxxOptionsT, or None for ops without options), its input tensor indices, every tensor of the graph.
ReadOptions = Callable[[object, tuple[int, ...], tuple[Tensor, ...]], object]
# The op's inputs, in order, as the golden reference holds them (None for an omitted bias).
Inputs = Sequence[Optional[np.ndarray]]


def optional_input(inputs: Inputs, position: int) -> np.ndarray | None:
    """The value of an optional input (a bias), None when the op omits it."""
    return inputs[position] if position < len(inputs) else None


@dataclass(frozen=True)
class NoOptions:
    """The options of ops that have none the kernels need (RESHAPE: the output tensor carries the
    shape; QUANTIZE; DEQUANTIZE)."""


def no_options(raw: object, inputs: tuple[int, ...], tensors: tuple[Tensor, ...]) -> NoOptions:
    return NoOptions()


class LoweringContext(Protocol):
    """The lowering of one graph (quantize/lower.py), as an op's `lower` sees it."""

    graph: Graph
    plan: TrainingPlan
    packed_ops: set[int]     # TFLite operators whose filters the device takes packed
    builder: BlobBuilder

    def activation(self, index: int) -> int:
        """The blob tensor of an int8 activation (a TFLite tensor index), created on first use."""

    def const(self, index: int, dims: tuple[int, int, int, int], trainable: bool = False) -> int:
        """A blob constant holding TFLite tensor `index`'s data."""

    def channel_arrays(self, multipliers: np.ndarray, shifts: np.ndarray) -> tuple[int, int]:
        """Data-section offsets of per-channel int32 multiplier and shift arrays."""

    def emit(self, opcode: OpCode, inputs: list[int | None], output: int, params: bytes, macs: int) -> int:
        """Appends a blob op; returns its index."""

    def alias(self, output: int, source: int) -> None:
        """TFLite tensor `output` shares the arena bytes of `source` (a RESHAPE)."""

    def scratch_buffer(self, op: int, field: int, nbytes: int) -> None:
        """Blob op `op` needs `nbytes` of arena scratch while it runs; the memory plan places it and
        writes its arena offset (uint32) at data-section offset `field`, in the op's parameters."""


INT8_VALUES = np.arange(-128, 128, dtype=np.int64)  # every int8 value, in a table's order


def real_inputs(graph: Graph, op: Operator) -> np.ndarray:
    """The real value s_x * (q - z_x) of each int8 input q = -128..127 of `op` (float64 [256])."""
    x = graph.tensor(op.inputs[0])
    return (INT8_VALUES - x.zero_point) * np.float64(x.scale)


def emit_single_input(lowering: LoweringContext, op: Operator, opcode: OpCode, params: bytes = b"") -> None:
    """Emits an op that reads one activation and does no multiply-accumulates."""
    lowering.emit(opcode, [lowering.activation(op.inputs[0])], lowering.activation(op.outputs[0]), params, 0)


def elementwise_op(name: str, read_options: "ReadOptions", validate: Callable[[Graph, Operator], None],
                   prepare: Callable[[Graph, Operator], object], kernel: Callable[[object, np.ndarray], np.ndarray],
                   opcode: OpCode, params: Layout,
                   derivative: Callable[[Graph, Operator], np.ndarray] | None = None) -> "OpDef":
    """The OpDef of an op that maps each int8 input element to one output element with the
    parameters TFLite's Prepare computes (QUANTIZE int8 -> int8, RELU, RELU6, LEAKY_RELU): its
    golden forward is kernel(prepare(...), x), its blob op carries prepare's parameter block, and
    it may run in place. `derivative`: see OpDef.derivative."""
    def forward(graph: Graph, op: Operator, inputs: Inputs) -> np.ndarray:
        return kernel(prepare(graph, op), inputs[0])

    def lower(lowering: LoweringContext, op: Operator) -> None:
        emit_single_input(lowering, op, opcode, params.pack_from(prepare(lowering.graph, op)))

    return OpDef(name, read_options, validate, forward, lower, opcode=opcode, params=params, prepare=prepare,
                 in_place=True, derivative=derivative)


@dataclass(frozen=True)
class OpDef:
    """One TFLite op, as every stage of the host sees it."""

    name: str                    # the TFLite builtin name, the registry's key
    read_options: ReadOptions    # flatbuffer options -> the op's options dataclass; refuses what is unsupported
    validate: Callable[[Graph, Operator], None]  # tensor types and shapes; raises UnsupportedModelError
    forward: Callable[[Graph, Operator, Inputs], np.ndarray]  # the golden kernel: the op's output
    # Writes the op into the blob; None for an op the device never runs (see Graph.converts_at_edge).
    lower: Callable[[LoweringContext, Operator], None] | None
    opcode: OpCode | None = None  # the blob op it lowers to
    params: Layout | None = None  # its parameter block in the blob
    prepare: Callable[[Graph, Operator], object] | None = None  # TFLite's Prepare: the kernel's integer parameters
    parametric: bool = False     # has weights and a bias a training plan may make trainable
    # Its kernel reads each input element before writing the output element at the same index, so the
    # memory plan may place the output over an input read by no later op (like TFLM's in-place ops).
    in_place: bool = False
    # Flash a packed filter would add (quantize/packing.py), None when the device cannot take it packed.
    packed_filter_extra: Callable[[Graph, Operator], int | None] | None = None
    # An element-wise op whose backward multiplies the error by the derivative of its float function
    # at the forward point: that derivative at each int8 input value -128..127 (float64 [256], of
    # the real input s_x * (q - z_x)); None for other ops (quantize/training/program.py).
    derivative: Callable[[Graph, Operator], np.ndarray] | None = None
