"""`mcutrain bench link`: what the serial link and the host cost, measured on a running device.

- frames_per_s: request and reply frames per second in a loop of small requests (STATS);
- payload_bytes_per_s: payload bytes per second moved by full-size frames: uploads of
  max-payload tensors the device refuses by size (so it computes nothing) and, when the model
  has trainable parameters, checkpoint downloads;
- host_overhead_fraction: of the wall time of one training step per sample (one forward pass
  when the firmware has no training yet), the share spent outside the device's computation:
  host encoding, the link and the device's frame handling, measured as the round trip of the
  same request with a payload one byte too long, which the device refuses before computing.
"""

from __future__ import annotations

import time
from statistics import median

import numpy as np

from host_tools.protocol import messages as msg
from host_tools.protocol.errors import DeviceError
from host_tools.protocol.session import Session

SMALL_REQUESTS = 200
BULK_REQUESTS = 20
STEP_SAMPLES = 10


def _refused(device: Session, type_: msg.MessageType, payload: bytes) -> None:
    try:
        device.request(type_, payload)
    except DeviceError as err:
        if err.code != msg.ErrorCode.BAD_LENGTH:
            raise
    else:
        raise DeviceError(msg.ErrorCode.INTERNAL, "an oversize tensor was accepted", msg.MessageType(type_).name)


def bench_link(device: Session, samples: np.ndarray | None = None, labels: np.ndarray | None = None) -> dict:
    info = device.info()
    figures: dict = {"board": info.board, "model": info.model_name, "max_payload": info.max_payload}

    start = time.perf_counter()
    for _ in range(SMALL_REQUESTS):
        device.stats()
    elapsed = time.perf_counter() - start
    figures["frames_per_s"] = round(2 * SMALL_REQUESTS / elapsed, 1)
    figures["round_trip_ms"] = round(1000 * elapsed / SMALL_REQUESTS, 3)

    bulk = bytes(range(256)) * (info.max_payload // 256 + 1)
    moved = 0
    start = time.perf_counter()
    for _ in range(BULK_REQUESTS):
        _refused(device, msg.MessageType.INFER, bulk[: info.max_payload])
        moved += info.max_payload
    if info.trainable_bytes:
        for _ in range(max(1, BULK_REQUESTS // 4)):
            moved += len(device.checkpoint_read())
    figures["payload_bytes_per_s"] = round(moved / (time.perf_counter() - start), 1)

    if info.has_model:
        training = True
        x = samples if samples is not None else np.zeros((STEP_SAMPLES, info.input_bytes), dtype=np.int8)
        y = labels if labels is not None else np.zeros(len(x), dtype=np.int64)
        step_s, link_s = [], []
        for sample, label in zip(x[:STEP_SAMPLES], y[:STEP_SAMPLES]):
            tensor = np.ascontiguousarray(sample, dtype=np.int8).tobytes()
            begin = time.perf_counter()
            if training:
                try:
                    device.train(tensor, int(label))
                except DeviceError as err:
                    if err.code != msg.ErrorCode.NOT_IN_THIS_BUILD:
                        raise
                    training = False
            if not training:
                begin = time.perf_counter()
                device.infer(tensor)
            step_s.append(time.perf_counter() - begin)
            begin = time.perf_counter()
            if training:
                _refused(device, msg.MessageType.TRAIN, bytes([int(label)]) + tensor + b"\0")
            else:
                _refused(device, msg.MessageType.INFER, tensor + b"\0")
            link_s.append(time.perf_counter() - begin)
        figures["step"] = "train" if training else "infer (no training in this firmware)"
        figures["step_wall_ms"] = round(1000 * median(step_s), 3)
        figures["link_wall_ms"] = round(1000 * median(link_s), 3)
        figures["host_overhead_fraction"] = round(min(1.0, median(link_s) / median(step_s)), 4)
    figures["retries"] = device.retries
    return figures
