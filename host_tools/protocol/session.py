"""One device session over any pyserial URL (`/dev/ttyACM0`, `socket://127.0.0.1:PORT`, `loop://`).

    with Session.open("socket://127.0.0.1:4000") as device:
        info = device.info()
        result = device.infer(x_int8)

A request is sent with a fresh sequence number and waited for; a reply that does not arrive in
time, arrives damaged, or is an ERROR saying the request was damaged is retried with the same
sequence number, which the device answers from its last reply without executing the request
again. Any other ERROR raises DeviceError at once.

An input larger than one frame's payload (INFO's max_payload) is staged first with INPUT_CHUNKs
in order (`stage_input()`, each chunk awaited), then INFER or TRAIN goes without its tensor and
runs on the staged one; `infer`, `train`, `infer_many` and `train_many` choose this by size.

`pipeline()` (and `infer_many()`, `train_many()` on it) streams a sequence of requests with up to
PIPELINE_WINDOW (2) of them in flight: request i+1 is sent before the reply to request i is
awaited, so it crosses the link while the device computes request i (the firmware receives into
an interrupt-driven ring buffer). The device executes requests in the order they arrive and
keeps the replies to its last two requests for retries (when small, as INFER's and TRAIN's
are), so a request of the window is retried exactly as above: it is never executed twice.
Replies are yielded in request order; one overtaking its predecessor (whose request had to be
resent) is held back until the predecessor's reply is in. Only one-frame samples are pipelined:
a staged input's chunks depend on their order (a chunk sent behind one that must be resent would
be refused as out of order, and the next sample's offset-0 chunk would abandon the input of the
step still waiting for its resend), so `infer_many`/`train_many` send chunked samples one
request at a time.
"""

from __future__ import annotations

import itertools
import random
import time
import zlib
from collections import deque
from typing import Callable, Iterable, Iterator

import numpy as np
import serial

from host_tools.protocol import messages as msg
from host_tools.protocol.errors import (
    CrcError,
    DeviceError,
    LinkTimeoutError,
    NoDeviceError,
    VersionMismatchError,
)
from host_tools.protocol.framing import DELIMITER, Frame, FrameDecodeError, decode_frame, encode_frame
from host_tools.protocol.trace import Tracer

# Seconds to wait for the reply to a control request (INFO, STATS, checkpoints, ...).
REPLY_TIMEOUT_S = 2.0
# Seconds to wait for the reply to INFER / TRAIN: a forward pass of a large model takes seconds
# under QEMU, a training step longer.
COMPUTE_TIMEOUT_S = 60.0
# Resends of one request (same seq) after a timeout, a damaged reply or a link ERROR.
MAX_RETRIES = 3
# Seconds one pyserial read blocks at most, so deadlines are checked often.
READ_SLICE_S = 0.05
# Bytes of a checkpoint asked for per CHECKPOINT_READ (the device sends at most what fits).
CHECKPOINT_CHUNK_BYTES = 1024
# Requests in flight in pipeline(): the device's retry cache holds the replies to its last two
# requests, so two is the most that can be retried without executing one twice.
PIPELINE_WINDOW = 2


class Session:
    """A framed request/reply session with one device. Not thread-safe."""

    def __init__(self, link, *, trace: bool | Tracer = False, url: str = "", first_seq: int | None = None):
        self.link = link
        self.url = url or getattr(link, "name", "") or "link"
        self.tracer = trace if isinstance(trace, Tracer) else Tracer(bool(trace))
        self._rx = bytearray()
        # A random start: a new session's first request never looks like a retry of the last one
        # the device answered (tests pass first_seq to keep seqs predictable).
        self._seq = random.randrange(0, msg.UNKNOWN_SEQ) if first_seq is None else first_seq
        self.retries = 0          # resends so far (benchmarks and tests read it)
        self.noise_frames = 0     # delimited chunks that were not valid frames (banner text, line noise)
        self.max_payload = 256    # until INFO says otherwise
        self._info: msg.DeviceInfo | None = None
        self._resynced = False

    # -- opening ---------------------------------------------------------------------------
    @classmethod
    def open(cls, url: str, *, trace: bool | Tracer = False, baudrate: int = 115200) -> "Session":
        try:
            link = serial.serial_for_url(url, baudrate=baudrate, timeout=READ_SLICE_S, write_timeout=REPLY_TIMEOUT_S)
        except (serial.SerialException, ValueError, OSError) as err:
            raise NoDeviceError(f"cannot open {url}: {err}") from None
        return cls(link, trace=trace, url=url)

    def close(self) -> None:
        try:
            self.link.close()
        except (serial.SerialException, OSError):
            pass

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- frames ----------------------------------------------------------------------------
    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) % msg.UNKNOWN_SEQ  # never UNKNOWN_SEQ itself
        return self._seq

    def _write(self, data: bytes, what: str) -> None:
        self.tracer.dump("TX", data, what)
        try:
            self.link.write(data)
            self.link.flush()
        except (serial.SerialException, OSError) as err:
            raise NoDeviceError(f"writing to {self.url} failed: {err}") from None

    def _read_chunk(self, deadline: float) -> bytes | None:
        """The next delimited chunk (without delimiter), or None at the deadline."""
        while True:
            end = self._rx.find(DELIMITER)
            if end >= 0:
                chunk = bytes(self._rx[:end])
                del self._rx[: end + 1]
                return chunk
            if time.monotonic() >= deadline:
                return None
            try:
                data = self.link.read(max(1, self.link.in_waiting))
            except (serial.SerialException, OSError) as err:
                raise NoDeviceError(f"reading from {self.url} failed: {err}") from None
            if data:
                self.tracer.dump("RX", data)
                self._rx += data

    def send_raw(self, data: bytes, what: str = "raw") -> None:
        """Writes bytes as they are (fault tests send damaged frames with it)."""
        self._write(bytes(data), what)

    def read_frame(self, timeout: float) -> Frame | None:
        """The next valid frame within `timeout` s, skipping noise; None if none came."""
        deadline = time.monotonic() + timeout
        while True:
            chunk = self._read_chunk(deadline)
            if chunk is None:
                return None
            if not chunk:
                continue
            try:
                return decode_frame(chunk)
            except FrameDecodeError as err:
                self.noise_frames += 1
                self.tracer.note(f"skipped {len(chunk)} bytes that are not a frame ({err})")

    def _new_frame(self, type_: int, payload: bytes, name: str) -> tuple[int, bytes]:
        """(sequence number, wire bytes) of a new request; refuses a payload the device cannot take."""
        if len(payload) > self.max_payload and self._info is not None:
            raise DeviceError(msg.ErrorCode.OVERSIZE, f"{len(payload)} payload bytes, the device takes at most "
                              f"{self.max_payload}", name)
        if not self._resynced:
            # A lone delimiter ends whatever partial frame the device may hold from before.
            self._write(DELIMITER, "resync")
            self._resynced = True
        seq = self._next_seq()
        return seq, encode_frame(type_, seq, payload)

    def request(self, type_: msg.MessageType, payload: bytes = b"", *, timeout: float | None = None,
                retries: int | None = None) -> bytes:
        """Sends one request and returns its reply's payload (see the module docstring).
        timeout: seconds per attempt (default REPLY_TIMEOUT_S); retries: default MAX_RETRIES."""
        timeout = REPLY_TIMEOUT_S if timeout is None else timeout
        retries = MAX_RETRIES if retries is None else retries
        name = msg.MessageType(type_).name
        seq, wire = self._new_frame(type_, payload, name)
        last_problem = ""
        damaged = 0
        for attempt in range(retries + 1):
            if attempt:
                self.retries += 1
                self.tracer.note(f"retry {attempt}/{retries} of {name} seq={seq}: {last_problem}")
            self._write(wire, f"{name} seq={seq}")
            deadline = time.monotonic() + timeout
            while True:
                noise_before = self.noise_frames
                frame = self.read_frame(max(0.0, deadline - time.monotonic()))
                damaged += self.noise_frames - noise_before
                if frame is None:
                    last_problem = f"no reply within {timeout:g} s"
                    break
                if frame.version != msg.PROTOCOL_VERSION:
                    raise VersionMismatchError(
                        f"{self.url} speaks protocol version {frame.version}, this host speaks "
                        f"{msg.PROTOCOL_VERSION}: flash matching firmware (mcutrain build)")
                if frame.seq != seq:
                    self.tracer.note(f"ignored {frame} (waiting for seq={seq})")
                    continue
                if frame.type == msg.MessageType.ERROR:
                    code, _ = msg.ERROR_REPLY.unpack_from(frame.payload)
                    reason = frame.payload[msg.ERROR_REPLY.size :].decode(errors="replace")
                    if code in msg.LINK_ERRORS:
                        last_problem = f"device saw the request damaged ({msg.error_name(code)})"
                        break
                    if code == msg.ErrorCode.BAD_VERSION:
                        raise VersionMismatchError(f"the device at {self.url} refused protocol version "
                                                   f"{msg.PROTOCOL_VERSION}: {reason}")
                    raise DeviceError(code, reason, name)
                if frame.type != (type_ | msg.REPLY_FLAG):
                    self.tracer.note(f"ignored {frame}: not a reply to {name}")
                    continue
                return frame.payload
        if damaged and "no reply" in last_problem:
            raise CrcError(f"{name} to {self.url}: {damaged} damaged replies, no valid one after {retries} retries")
        raise LinkTimeoutError(f"{name} to {self.url}: {last_problem} after {retries} retries "
                               f"(is mcutrain firmware running there?)")

    def pipeline(self, type_: msg.MessageType, payloads: Iterable[bytes], *, timeout: float | None = None,
                 retries: int | None = None, window: int = PIPELINE_WINDOW) -> Iterator[bytes]:
        """Sends one request of type `type_` per payload with up to `window` in flight and yields
        the replies' payloads in request order (see the module docstring). timeout: seconds per
        attempt, counted from when the request's predecessor was answered (the device executes
        in order); retries: resends per request (default MAX_RETRIES)."""
        timeout = REPLY_TIMEOUT_S if timeout is None else timeout
        retries = MAX_RETRIES if retries is None else retries
        if not 1 <= window <= PIPELINE_WINDOW:
            raise ValueError(f"window {window}: the device's retry cache allows 1 to {PIPELINE_WINDOW}")
        name = msg.MessageType(type_).name
        source = iter(payloads)
        flight: deque[_InFlight] = deque()  # oldest first
        early: dict[int, bytes | DeviceError] = {}  # seq -> reply (or its ERROR) not yet yielded
        exhausted = False
        while True:
            while not exhausted and len(flight) < window:
                payload = next(source, None)
                if payload is None:
                    exhausted = True
                    break
                entry = _InFlight(*self._new_frame(type_, bytes(payload), name))
                self._write(entry.wire, f"{name} seq={entry.seq}")
                if not flight:
                    entry.deadline = time.monotonic() + timeout
                flight.append(entry)
            if not flight:
                return
            head = flight[0]
            if head.seq in early:
                flight.popleft()
                if flight:
                    flight[0].deadline = time.monotonic() + timeout
                reply = early.pop(head.seq)
                if isinstance(reply, DeviceError):
                    raise reply
                yield reply
                continue
            noise_before = self.noise_frames
            frame = self.read_frame(max(0.0, head.deadline - time.monotonic()))
            head.damaged += self.noise_frames - noise_before
            if frame is None:
                self._resend(head, name, retries, timeout, f"no reply within {timeout:g} s")
                continue
            entry = next((e for e in flight if e.seq == frame.seq), None)
            if entry is None:
                self._check_version(frame)
                self.tracer.note(f"ignored {frame} (waiting for seq={', '.join(str(e.seq) for e in flight)})")
                continue
            try:
                reply = self._reply_payload(frame, type_, name)
            except DeviceError as err:  # raised in request order, when its request is the oldest
                reply = err
            if reply is None:  # ERROR: the device saw that request damaged
                problem = f"device saw the request damaged ({msg.error_name(frame.payload[0])})"
                self._resend(entry, name, retries, timeout, problem)
                continue
            if reply is _IGNORED:
                continue
            early[entry.seq] = reply

    def _resend(self, entry: "_InFlight", name: str, retries: int, timeout: float, problem: str) -> None:
        if entry.attempts >= retries:
            if entry.damaged and problem.startswith("no reply"):
                raise CrcError(f"{name} to {self.url}: {entry.damaged} damaged replies, no valid one after "
                               f"{retries} retries")
            raise LinkTimeoutError(f"{name} to {self.url}: {problem} after {retries} retries "
                                   f"(is mcutrain firmware running there?)")
        entry.attempts += 1
        self.retries += 1
        self.tracer.note(f"retry {entry.attempts}/{retries} of {name} seq={entry.seq}: {problem}")
        self._write(entry.wire, f"{name} seq={entry.seq}")
        entry.deadline = time.monotonic() + timeout

    def _check_version(self, frame: Frame) -> None:
        if frame.version != msg.PROTOCOL_VERSION:
            raise VersionMismatchError(
                f"{self.url} speaks protocol version {frame.version}, this host speaks "
                f"{msg.PROTOCOL_VERSION}: flash matching firmware (mcutrain build)")

    def _reply_payload(self, frame: Frame, type_: int, name: str):
        """The payload of a reply to a request of `type_`; None for an ERROR that says the request
        arrived damaged (resend it), _IGNORED for a frame that is no such reply; raises on any
        other ERROR."""
        self._check_version(frame)
        if frame.type == msg.MessageType.ERROR:
            code, _ = msg.ERROR_REPLY.unpack_from(frame.payload)
            reason = frame.payload[msg.ERROR_REPLY.size :].decode(errors="replace")
            if code in msg.LINK_ERRORS:
                return None
            if code == msg.ErrorCode.BAD_VERSION:
                raise VersionMismatchError(f"the device at {self.url} refused protocol version "
                                           f"{msg.PROTOCOL_VERSION}: {reason}")
            raise DeviceError(code, reason, name)
        if frame.type != (type_ | msg.REPLY_FLAG):
            self.tracer.note(f"ignored {frame}: not a reply to {name}")
            return _IGNORED
        return frame.payload

    # -- messages --------------------------------------------------------------------------
    def info(self) -> msg.DeviceInfo:
        info = msg.DeviceInfo.parse(self.request(msg.MessageType.INFO))
        if info.protocol_version != msg.PROTOCOL_VERSION:
            raise VersionMismatchError(f"device protocol version {info.protocol_version}, host {msg.PROTOCOL_VERSION}")
        self._info = info
        self.max_payload = info.max_payload
        return info

    def device_info(self) -> msg.DeviceInfo:
        """INFO, asked once per session."""
        return self._info or self.info()

    def set_config(self, learning_rate: float, gradient_filter: bool, seed: int) -> msg.Config:
        config = msg.Config(learning_rate, gradient_filter, seed)
        return msg.Config.parse(self.request(msg.MessageType.SET_CONFIG, config.pack()))

    def infer(self, x: np.ndarray | bytes) -> msg.InferResult:
        """INFER of one input: in its own frame when it fits, else staged first (stage_input)."""
        tensor = _checked_tensor(x, "INFER")
        if not self._fits_one_frame(len(tensor)):
            self.stage_input(tensor)
            tensor = b""  # INFER without a tensor: the staged one
        return msg.InferResult.parse(self.request(msg.MessageType.INFER, tensor, timeout=COMPUTE_TIMEOUT_S))

    def train(self, x: np.ndarray | bytes, label: int) -> msg.TrainResult:
        """TRAIN on one sample: in its own frame when it fits, else the input staged first."""
        tensor = _checked_tensor(x, "TRAIN")
        label_byte = _label_byte(label)
        if not self._fits_one_frame(len(label_byte) + len(tensor)):
            self.stage_input(tensor)
            tensor = b""  # TRAIN with only the label: the staged input
        return msg.TrainResult.parse(self.request(msg.MessageType.TRAIN, label_byte + tensor,
                                                  timeout=COMPUTE_TIMEOUT_S))

    def infer_many(self, xs: Iterable[np.ndarray | bytes]) -> Iterator[msg.InferResult]:
        """INFER for each input, results in input order: pipelined (see pipeline()) when an input
        fits one frame, else one staged input after the other (see the module docstring)."""
        tensors = (_checked_tensor(x, "INFER") for x in xs)
        first = next(tensors, None)
        if first is None:
            return
        tensors = itertools.chain([first], tensors)
        if not self._fits_one_frame(len(first)):
            for tensor in tensors:
                yield self.infer(tensor)
            return
        for reply in self.pipeline(msg.MessageType.INFER, tensors, timeout=COMPUTE_TIMEOUT_S):
            yield msg.InferResult.parse(reply)

    def train_many(self, samples: Iterable[tuple[np.ndarray | bytes, int]]) -> Iterator[msg.TrainResult]:
        """TRAIN for each (input, label), results in sample order: pipelined (see pipeline()) when
        a sample fits one frame, else one staged input after the other."""
        pairs = ((_label_byte(label), _checked_tensor(x, "TRAIN")) for x, label in samples)
        first = next(pairs, None)
        if first is None:
            return
        pairs = itertools.chain([first], pairs)
        if not self._fits_one_frame(len(first[0]) + len(first[1])):
            for label_byte, tensor in pairs:
                yield self.train(tensor, label_byte[0])
            return
        payloads = (label_byte + tensor for label_byte, tensor in pairs)
        for reply in self.pipeline(msg.MessageType.TRAIN, payloads, timeout=COMPUTE_TIMEOUT_S):
            yield msg.TrainResult.parse(reply)

    def stage_input(self, tensor: bytes) -> None:
        """Stages an input tensor on the device with INPUT_CHUNKs from offset 0, each as large as a
        frame allows; the next INFER or TRAIN without a tensor runs on it (and consumes it)."""
        room = self.device_info().max_payload - msg.INPUT_CHUNK_REQUEST.size
        for offset in range(0, len(tensor), room):
            chunk = tensor[offset : offset + room]
            try:
                reply = self.request(msg.MessageType.INPUT_CHUNK, msg.INPUT_CHUNK_REQUEST.pack(offset) + chunk)
            except DeviceError as err:
                if err.code == msg.ErrorCode.UNKNOWN_TYPE:
                    raise DeviceError(err.code, f"the input ({len(tensor)} bytes) does not fit one frame "
                                      f"({self.max_payload} bytes) and this firmware has no INPUT_CHUNK: "
                                      "rebuild it (mcutrain build)", "INPUT_CHUNK") from None
                raise
            staged, flags = msg.INPUT_CHUNK_REPLY.unpack(reply)
            if flags & msg.ABANDONED_OTHER_STAGING:
                self.tracer.note("the device abandoned an unfinished checkpoint write to stage this input")
            if staged != offset + len(chunk):
                raise DeviceError(msg.ErrorCode.BAD_SEQUENCE, f"device holds {staged} input bytes, sent "
                                  f"{offset + len(chunk)}", "INPUT_CHUNK")
        if not flags & msg.INPUT_COMPLETE:
            raise DeviceError(msg.ErrorCode.BAD_LENGTH, f"the device's input is not complete after {len(tensor)} "
                              "bytes (the model's input has another size)", "INPUT_CHUNK")

    def _fits_one_frame(self, payload_bytes: int) -> bool:
        """True when a request payload of this size fits one frame; asks INFO first when the
        session has not (the payload limit is the device's)."""
        return payload_bytes <= self.device_info().max_payload

    def stats(self) -> msg.Stats:
        return msg.Stats.parse(self.request(msg.MessageType.STATS))

    def reset_params(self) -> tuple[int, int]:
        """Restores the flashed parameters; returns (trainable bytes, their CRC)."""
        return msg.RESET_PARAMS_REPLY.unpack(self.request(msg.MessageType.RESET_PARAMS))

    def trainable_crc(self) -> tuple[int, int]:
        """(bytes, CRC-32) of the device's trainable parameters, without reading them (a
        zero-length CHECKPOINT_READ)."""
        reply = self.request(msg.MessageType.CHECKPOINT_READ, msg.CHECKPOINT_READ_REQUEST.pack(0, 0))
        total, total_crc, _ = msg.CHECKPOINT_READ_REPLY.unpack_from(reply)
        return total, total_crc

    def checkpoint_read(self, progress: Callable[[int, int], None] | None = None) -> bytes:
        """The trainable parameters, read in chunks and checked against the device's CRC."""
        data = bytearray()
        total = None
        total_crc = 0
        while total is None or len(data) < total:
            reply = self.request(msg.MessageType.CHECKPOINT_READ,
                                 msg.CHECKPOINT_READ_REQUEST.pack(len(data), CHECKPOINT_CHUNK_BYTES))
            total, total_crc, offset = msg.CHECKPOINT_READ_REPLY.unpack_from(reply)
            chunk = reply[msg.CHECKPOINT_READ_REPLY.size :]
            if offset != len(data) or (not chunk and len(data) < total):
                raise DeviceError(msg.ErrorCode.BAD_SEQUENCE, f"chunk at offset {offset}, expected {len(data)}",
                                  "CHECKPOINT_READ")
            data += chunk
            if progress:
                progress(len(data), total)
        if zlib.crc32(data) != total_crc:
            raise CrcError(f"checkpoint read from {self.url} does not match the device's CRC "
                           f"(0x{zlib.crc32(data):08x} != 0x{total_crc:08x}): parameters changed while reading?")
        return bytes(data)

    def checkpoint_write(self, data: bytes, progress: Callable[[int, int], None] | None = None,
                         chunk_bytes: int | None = None) -> None:
        """Sends the whole parameter region in chunks; the device applies it only once all bytes
        have arrived and their CRC matches, so an interrupted write leaves the old ones."""
        total, total_crc = len(data), zlib.crc32(data)
        room = self.max_payload - msg.CHECKPOINT_WRITE_REQUEST.size
        step = max(1, min(chunk_bytes or room, room))
        offset = 0
        applied = False
        while offset < total or total == 0:
            chunk = data[offset : offset + step]
            reply = self.request(msg.MessageType.CHECKPOINT_WRITE,
                                 msg.CHECKPOINT_WRITE_REQUEST.pack(offset, total, total_crc) + chunk)
            received, flags = msg.CHECKPOINT_WRITE_REPLY.unpack(reply)
            applied = bool(flags & msg.CHECKPOINT_APPLIED)
            if flags & msg.ABANDONED_OTHER_STAGING:
                self.tracer.note("the device abandoned a staged input to stage this checkpoint")
            offset += len(chunk)
            if received != offset:
                raise DeviceError(msg.ErrorCode.BAD_SEQUENCE, f"device holds {received} bytes, sent {offset}",
                                  "CHECKPOINT_WRITE")
            if progress:
                progress(offset, total)
            if total == 0:
                break
        if not applied:
            raise DeviceError(msg.ErrorCode.INTERNAL, "the device did not apply the complete checkpoint",
                              "CHECKPOINT_WRITE")


class _InFlight:
    """One request of a pipeline: its encoded frame, resends so far, reply deadline."""

    __slots__ = ("seq", "wire", "attempts", "damaged", "deadline")

    def __init__(self, seq: int, wire: bytes):
        self.seq, self.wire = seq, wire
        self.attempts = 0
        self.damaged = 0
        self.deadline = float("inf")  # set when the request ahead of it has been answered


_IGNORED = object()


def _tensor_bytes(x: np.ndarray | bytes) -> bytes:
    if isinstance(x, (bytes, bytearray)):
        return bytes(x)
    return np.ascontiguousarray(x, dtype=np.int8).tobytes()


def _checked_tensor(x: np.ndarray | bytes, request: str) -> bytes:
    """The input's bytes; an empty one is refused here, since on the wire it means "the staged input"."""
    tensor = _tensor_bytes(x)
    if not tensor:
        raise DeviceError(msg.ErrorCode.BAD_LENGTH, "an empty input tensor", request)
    return tensor


def _label_byte(label: int) -> bytes:
    if not 0 <= int(label) <= 255:
        raise DeviceError(msg.ErrorCode.BAD_LABEL, f"label {label} does not fit a byte", "TRAIN")
    return bytes([int(label)])
