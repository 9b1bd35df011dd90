"""`mcutrain bench link`: what the serial link and the host cost, measured on a running device.

- frames_per_s: request and reply frames per second in a loop of small requests (STATS), one
  at a time;
- payload_bytes_per_s: payload bytes per second moved by full-size frames, one at a time:
  uploads of max-payload tensors the device refuses by size (so it computes nothing) and, when
  the model has trainable parameters, checkpoint downloads;
- host_overhead_fraction: how much the host and the link add to the wall time per sample of
  streaming steps the way `mcutrain train`/`eval`/`infer` stream them, i.e. pipelined
  (Session.train_many/infer_many: the next sample is uploaded while the device computes the
  current one). The step is TRAIN (labels from the samples) when the firmware trains, INFER
  when it has no training (the JSON's `step` says which; a probe TRAIN on the first sample
  decides, and training changes the device's parameters, which a benchmark may). It is

      (pipelined_wall_ms - compute_wall_ms) / pipelined_wall_ms, clamped to [0, 1], where

  pipelined_wall_ms is the steady-state wall time per sample of a pipelined stream of
  PIPELINED_STREAM steps (the time from its first reply to its last divided by the steps in
  between, so any stall of the stream counts and the first upload, which nothing hides, is
  left out), and compute_wall_ms is the wall time of the device's computation of one step: the
  wall time of one step sent on its own (step_wall_ms: upload, compute, reply) minus the round
  trip of the same request with a payload one byte short, which the device refuses before
  computing (link_wall_ms: upload and a reply, no computation; for TRAIN the twin carries a
  label out of range instead). An input larger than one frame is staged in INPUT_CHUNKs before
  its step (Session.stage_input), and so is its twin's; its stream is not pipelined (`pipelined`
  false: Session.infer_many/train_many send staged samples one request at a time), so the
  figure is then the link's share. The three are measured in
  STEP_SAMPLES interleaved rounds (so they see the same load on the machine) and each figure is
  the median over the rounds. So the figure is the share of a streamed step's wall time
  not explained by the device's computation alone: host encoding and decoding, link time not
  hidden behind the computation, the device's frame handling, and what receiving the next sample
  during the computation costs the computation (its receive interrupts). Wall times under QEMU
  depend on the host machine's load; the JSON also carries the parts (step, link, compute and
  pipelined wall times) and the unpipelined figure, link_wall_ms / step_wall_ms, as
  sequential_overhead_fraction.
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
PIPELINED_STREAM = 5


def _refused(device: Session, type_: msg.MessageType, payload: bytes,
             expected: msg.ErrorCode = msg.ErrorCode.BAD_LENGTH) -> None:
    try:
        device.request(type_, payload)
    except DeviceError as err:
        if err.code != expected:
            raise
    else:
        raise DeviceError(msg.ErrorCode.INTERNAL, "a request meant to be refused was executed",
                          msg.MessageType(type_).name)


def _has_training(device: Session, tensor: bytes, label: int) -> bool:
    """True when the firmware trains (the probe is one training step on the first sample)."""
    try:
        device.train(tensor, label)
    except DeviceError as err:
        if err.code != msg.ErrorCode.NOT_IN_THIS_BUILD:
            raise
        return False
    return True


def _link_twin(device: Session, info: msg.DeviceInfo, training: bool, staged: bool, tensor: bytes,
               label: int) -> None:
    """The step's upload and a reply, without its computation: the same bytes (staged first when
    the step stages them), in a request the device refuses once every byte is in: TRAIN with a
    label out of range, INFER one byte short (with a staged input: a 1-byte INFER)."""
    if staged:
        device.stage_input(tensor)  # a refused step keeps it; the next offset-0 chunk replaces it
    if training:
        _refused(device, msg.MessageType.TRAIN, bytes([min(info.output_bytes, 255)]) + (b"" if staged else tensor),
                 msg.ErrorCode.BAD_LABEL)
    else:
        _refused(device, msg.MessageType.INFER, b"\0" if staged else tensor[:-1])


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
        # A max-payload INFER is refused by its size, unless it is exactly the model's input.
        size = info.max_payload if info.max_payload != info.input_bytes else info.max_payload - 1
        _refused(device, msg.MessageType.INFER, bulk[:size])
        moved += size
    if info.trainable_bytes:
        for _ in range(max(1, BULK_REQUESTS // 4)):
            moved += len(device.checkpoint_read())
    figures["payload_bytes_per_s"] = round(moved / (time.perf_counter() - start), 1)

    if info.has_model:
        x = samples if samples is not None else np.zeros((STEP_SAMPLES, info.input_bytes), dtype=np.int8)
        y = labels if labels is not None else np.zeros(len(x), dtype=np.int64)
        tensors = [np.ascontiguousarray(sample, dtype=np.int8).tobytes() for sample in x[:STEP_SAMPLES]]
        steps = [(tensor, int(label)) for tensor, label in zip(tensors, y[:STEP_SAMPLES])]
        training = _has_training(device, *steps[0])
        # As Session.train/infer choose: one frame when the step fits, else the input staged first.
        staged = len(tensors[0]) + (1 if training else 0) > info.max_payload
        # Rounds of: one step alone, its refused twin, a short pipelined stream. Interleaved, so
        # the three see the same load on the machine running QEMU (its vCPU and I/O threads only
        # overlap when both get a core).
        step_s, link_s, pipelined_s = [], [], []
        for i, (tensor, label) in enumerate(steps):
            begin = time.perf_counter()
            device.train(tensor, label) if training else device.infer(tensor)
            step_s.append(time.perf_counter() - begin)
            begin = time.perf_counter()
            _link_twin(device, info, training, staged, tensor, label)
            link_s.append(time.perf_counter() - begin)
            stream = [steps[(i + k) % len(steps)] for k in range(PIPELINED_STREAM)]
            results = device.train_many(stream) if training else device.infer_many(t for t, _ in stream)
            answered = [time.perf_counter() for _ in results]
            pipelined_s.append((answered[-1] - answered[0]) / (len(answered) - 1))
        pipelined = median(pipelined_s)
        step, link = median(step_s), median(link_s)
        compute = max(0.0, step - link)
        figures["step"] = "train" if training else "infer"
        figures["pipelined"] = not staged
        figures["step_wall_ms"] = round(1000 * step, 3)
        figures["link_wall_ms"] = round(1000 * link, 3)
        figures["compute_wall_ms"] = round(1000 * compute, 3)
        figures["pipelined_wall_ms"] = round(1000 * pipelined, 3)
        figures["sequential_overhead_fraction"] = round(min(1.0, link / step), 4)
        figures["host_overhead_fraction"] = round(min(1.0, max(0.0, (pipelined - compute) / pipelined)), 4)
    figures["retries"] = device.retries
    return figures
