"""The quantized parameters a fleet averages (README "Fleets: what crosses the link").

Only the training plan's trainable region crosses the link (LoweredModel.trainable_layout: whole
int8 weight and int32 bias tensors of the trained layers). To average devices, each tensor is
dequantized with its fixed scales, so that Flower's strategies (FedAvg, FedAdam) work on real values:

    weights  real = s_W[o] * q           (int8, symmetric, per output channel: zero point 0)
    biases   real = s_W[o] * s_x * q     (int32: the scale the converter stored with the bias)

and the strategy's result is requantized on every device the same way:

    x = real / scale;  q = x if x is within 1e-6 of an integer (the round trip of an unchanged
    value), else floor(x + u), u uniform in [0, 1) drawn by numpy's PCG64 seeded with
    (seed, round, tensor index): stochastic rounding, unbiased, and the same on every device;
    clamped to [-127, 127] (weights, as the device's update clamps them) or the int32 range.

The scales never change (the device trains the integers under fixed scales), so the average of
dequantized values is the dequantized average of the integers, weighted by the devices' samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quantize.graph import Graph

INTEGRAL_TOLERANCE = 1e-6
_LIMITS = {"int8": (-127, 127), "int32": (-(2 ** 31), 2 ** 31 - 1)}


@dataclass(frozen=True)
class RegionTensor:
    tensor: int           # TFLite tensor index
    offset: int           # bytes into the trainable region
    shape: tuple[int, ...]
    dtype: str            # "int8" (weights) or "int32" (biases)
    scale: np.ndarray     # float64, broadcastable to shape: the real value of one integer step

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * np.dtype(self.dtype).itemsize


@dataclass(frozen=True)
class FleetRegion:
    """A model's trainable region as a fleet moves it: where its tensors lie, their scales, and
    the values the model starts from."""
    graph: Graph
    layout: list[tuple[int, int, int]]   # LoweredModel.trainable_layout
    size: int                            # bytes (the blob header's trainable_size)
    tensors: list[RegionTensor]

    def initial(self) -> bytes:
        from quantize.training.step import trainable_region

        return trainable_region(self.layout, self.size, {}, self.graph)


def fleet_region(tflite: bytes, name: str, plan) -> FleetRegion:
    """The trainable region of `tflite` lowered with training plan `plan`."""
    from quantize.blob import read_header
    from quantize.lower import lower_tflite
    from quantize.tflite_model import parse_tflite

    graph = parse_tflite(tflite)
    lowered = lower_tflite(tflite, name, plan=plan)
    return FleetRegion(graph, lowered.trainable_layout, int(read_header(lowered.blob)["trainable_size"]),
                       region_tensors(graph, lowered.trainable_layout))


def region_tensors(graph: Graph, layout: list[tuple[int, int, int]]) -> list[RegionTensor]:
    """The trainable region's tensors with their scales (layout: LoweredModel.trainable_layout)."""
    tensors = []
    for index, offset, nbytes in layout:
        t = graph.tensor(index)
        scales = t.quantization.scales.astype(np.float64)
        if len(scales) > 1:  # per output channel: axis 0 of a filter (CONV_2D, FC) or the last (DEPTHWISE) / a bias
            shape = [1] * len(t.shape)
            shape[t.quantization.axis] = len(scales)
            scales = scales.reshape(shape)
        tensors.append(RegionTensor(index, offset, tuple(t.shape), t.dtype, scales))
        if tensors[-1].nbytes != nbytes:
            raise ValueError(f"tensor {index} ('{t.name}'): {nbytes} bytes in the region, its shape holds "
                             f"{tensors[-1].nbytes}")
    return tensors


def dequantize(tensors: list[RegionTensor], region: bytes) -> list[np.ndarray]:
    """The region's tensors as real values (float64), in layout order."""
    return [np.frombuffer(region, dtype=np.dtype(t.dtype).newbyteorder("<"), count=int(np.prod(t.shape)),
                          offset=t.offset).reshape(t.shape) * t.scale for t in tensors]


def requantize(tensors: list[RegionTensor], values: list[np.ndarray], region_size: int, seed: int,
               server_round: int) -> bytes:
    """The region holding `values` (real, layout order), stochastically rounded as the module says."""
    if len(values) != len(tensors):
        raise ValueError(f"{len(values)} arrays for a region of {len(tensors)} tensors")
    region = bytearray(region_size)
    for t, value in zip(tensors, values):
        x = np.asarray(value, dtype=np.float64).reshape(t.shape) / t.scale
        u = np.random.default_rng([seed, server_round, t.tensor]).random(t.shape)
        nearest = np.round(x)
        q = np.where(np.abs(x - nearest) <= INTEGRAL_TOLERANCE, nearest, np.floor(x + u))
        low, high = _LIMITS[t.dtype]
        payload = np.clip(q, low, high).astype(np.dtype(t.dtype).newbyteorder("<")).tobytes()
        region[t.offset:t.offset + t.nbytes] = payload
    return bytes(region)
