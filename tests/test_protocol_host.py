"""The host side of the protocol without a device: framing, payload layouts, and the Session's
retries and errors against a scripted fake device on a local TCP socket (the same pyserial
socket:// path as QEMU's UART)."""

from __future__ import annotations

import io
import socket
import struct
import threading
import zlib

import pytest
import serial
from cobs import cobs

from host_tools.protocol import session as session_module
from host_tools.protocol import (
    CrcError,
    DeviceError,
    ErrorCode,
    LinkTimeoutError,
    MessageType,
    NoDeviceError,
    Session,
    VersionMismatchError,
)
from host_tools.protocol import messages as msg
from host_tools.protocol.framing import FrameDecodeError, decode_frame, encode_frame, frame_body
from host_tools.protocol.trace import Tracer, hex_lines


def test_frame_round_trip_and_wire_layout():
    wire = encode_frame(MessageType.INFER, 0x1234, b"\x00\x01\x00" * 100)
    assert wire.endswith(b"\x00") and b"\x00" not in wire[:-1]
    body = cobs.decode(wire[:-1])
    assert body[:6] == struct.pack("<BBHH", 1, 0x03, 0x1234, 300)
    assert struct.unpack("<I", body[-4:])[0] == zlib.crc32(body[:-4])
    frame = decode_frame(wire[:-1])
    assert (frame.version, frame.type, frame.seq, frame.payload) == (1, 3, 0x1234, b"\x00\x01\x00" * 100)


@pytest.mark.parametrize("damage, kind", [
    (lambda body: body[:-1] + bytes([body[-1] ^ 0x10]), "crc"),
    (lambda body: body[:12], "length"),
    (lambda body: body[:5], "short"),
])
def test_decode_names_what_is_wrong(damage, kind):
    body = frame_body(MessageType.STATS, 7, b"abcdef")
    with pytest.raises(FrameDecodeError) as err:
        decode_frame(cobs.encode(damage(body)))
    assert err.value.kind == kind


def test_stats_and_info_layouts_parse():
    counts = [0] * 16
    counts[ErrorCode.BAD_CRC] = 5
    counts[ErrorCode.TIMEOUT] = 2
    raw = struct.pack("<8IB", 3, 2, 3 * 65536, 0, 9, 40, 1, 5000, 16) + struct.pack("<16I", *counts)
    stats = msg.Stats.parse(raw)
    assert stats.errors["bad_crc"] == 5 and stats.errors["timeout"] == 2 and stats.errors_total == 7
    assert stats.running_loss == pytest.approx(1.0) and stats.running_accuracy == pytest.approx(2 / 3)
    strings = b"".join(bytes([len(s)]) + s for s in (b"0.1.0", b"qemu-m7", b"cortex-m7", b"ref", b"ok"))
    info_raw = struct.pack("<BBH16IfBI", 1, 0, 2048, *range(16), 0.25, 1, 7) + strings
    info = msg.DeviceInfo.parse(info_raw)
    assert info.max_payload == 2048 and info.model_name == "ref" and info.board == "qemu-m7"
    assert info.has_model and info.gradient_filter and info.seed == 7 and info.learning_rate == 0.25


def test_trace_dumps_hex_with_timestamps():
    out = io.StringIO()
    tracer = Tracer(True, out)
    tracer.dump("TX", bytes(range(20)), "INFO seq=1")
    text = out.getvalue()
    assert text.startswith("TRACE +0.") and "TX 20 bytes INFO seq=1" in text
    assert "0000  00 01 02 03" in text and "0010  10 11 12 13" in text
    assert hex_lines(b"AB\x00") == ["0000  41 42 00" + " " * 39 + "  |AB.|"]


# -- Session against a scripted fake device ------------------------------------------------------

class FakeDevice:
    """Answers INFO/STATS like the firmware; `script` maps a request count to a misbehaviour:
    'drop' (no reply), 'corrupt' (reply with a bad CRC), 'link-error' (ERROR bad_crc), 'noise'
    (garbage first), 'version' (reply in protocol version 2), 'device-error' (ERROR bad_value)."""

    def __init__(self, script: dict[int, str] | None = None):
        self.script = script or {}
        self.requests: list[tuple[int, int]] = []  # (type, seq) as received
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(1)
        self.url = f"socket://127.0.0.1:{self.server.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.server.accept()
        buffer = b""
        with conn:
            while True:
                data = conn.recv(4096)
                if not data:
                    return
                buffer += data
                while b"\x00" in buffer:
                    chunk, buffer = buffer.split(b"\x00", 1)
                    if chunk:
                        conn.sendall(self._answer(decode_frame(chunk)))

    def _answer(self, frame) -> bytes:
        self.requests.append((frame.type, frame.seq))
        action = self.script.get(len(self.requests), "")
        payload = struct.pack("<8IB", 0, 0, 0, 0, 0, len(self.requests), 0, 0, 0)
        reply = encode_frame(frame.type | msg.REPLY_FLAG, frame.seq, payload)
        if action == "drop":
            return b""
        if action == "corrupt":
            body = bytearray(frame_body(frame.type | msg.REPLY_FLAG, frame.seq, payload))
            body[-1] ^= 0xFF
            return cobs.encode(bytes(body)) + b"\x00"
        if action == "link-error":
            return encode_frame(MessageType.ERROR, frame.seq, bytes([ErrorCode.BAD_CRC, frame.type]) + b"frame CRC mismatch")
        if action == "device-error":
            return encode_frame(MessageType.ERROR, frame.seq, bytes([ErrorCode.BAD_VALUE, frame.type]) + b"seed must be non-zero")
        if action == "noise":
            return b"mcutrain fw=0.1.0 board=x\r\n\x00" + encode_frame(MessageType.ERROR, 0xFFFF, b"\x01\x00") + reply
        if action == "version":
            return encode_frame(frame.type | msg.REPLY_FLAG, frame.seq, payload, version=2)
        return reply

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def fast_timeouts(monkeypatch):
    monkeypatch.setattr(session_module, "REPLY_TIMEOUT_S", 0.3)


@pytest.mark.parametrize("misbehaviour", ["drop", "corrupt", "link-error", "noise"])
def test_session_retries_with_the_same_seq(fast_timeouts, misbehaviour):
    device = FakeDevice({1: misbehaviour})
    trace = io.StringIO()
    with Session.open(device.url, trace=Tracer(True, trace)) as session:
        stats = session.stats()
    device.close()
    assert stats.frames_ok == len(device.requests)
    seqs = {seq for _, seq in device.requests}
    expected_retries = 0 if misbehaviour == "noise" else 1
    assert session.retries == expected_retries and len(seqs) == 1
    if expected_retries:
        assert "retry 1/3 of STATS" in trace.getvalue()


def test_session_raises_timeout_after_retries(fast_timeouts):
    device = FakeDevice({n: "drop" for n in range(1, 10)})
    with Session.open(device.url) as session, pytest.raises(LinkTimeoutError, match="no reply within 0.3 s after 3 retries"):
        session.stats()
    device.close()
    assert len(device.requests) == 4


def test_session_raises_crc_error_when_every_reply_is_damaged(fast_timeouts):
    device = FakeDevice({n: "corrupt" for n in range(1, 10)})
    with Session.open(device.url) as session, pytest.raises(CrcError, match="damaged replies"):
        session.stats()
    device.close()


def test_session_raises_version_mismatch(fast_timeouts):
    device = FakeDevice({1: "version"})
    with Session.open(device.url) as session, pytest.raises(VersionMismatchError, match="protocol version 2"):
        session.stats()
    device.close()


def test_session_raises_device_error_without_retrying(fast_timeouts):
    device = FakeDevice({1: "device-error"})
    with Session.open(device.url) as session, pytest.raises(DeviceError) as err:
        session.stats()
    device.close()
    assert err.value.code == ErrorCode.BAD_VALUE and "bad_value to STATS: seed must be non-zero" in str(err.value)
    assert len(device.requests) == 1


# -- pipelining ----------------------------------------------------------------------------------

class PipeliningFakeDevice(FakeDevice):
    """Holds back its reply to the newest request until the next request arrives (a request
    whose seq it has seen before, a retry, is answered at once, after the held ones; so is INFO), so a host
    that waits for each reply before sending the next request gets nothing. Once `total`
    different seqs have arrived everything is answered. A reply echoes the request's payload
    reversed. script: request count -> 'drop' (no reply), 'link-error' (ERROR bad_crc),
    'device-error' (ERROR bad_label)."""

    def __init__(self, total: int, script: dict[int, str] | None = None):
        self.total = total
        super().__init__(script)

    def _serve(self) -> None:
        conn, _ = self.server.accept()
        buffer = b""
        held: list[bytes] = []
        seen: set[int] = set()
        with conn:
            while True:
                data = conn.recv(4096)
                if not data:
                    return
                buffer += data
                while b"\x00" in buffer:
                    chunk, buffer = buffer.split(b"\x00", 1)
                    if not chunk:
                        continue
                    frame = decode_frame(chunk)
                    self.requests.append((frame.type, frame.seq))
                    if frame.type == MessageType.INFO:  # answered at once: a session asks it first
                        conn.sendall(b"".join(held) + self._info(frame))
                        held = []
                        continue
                    retry = frame.seq in seen
                    seen.add(frame.seq)
                    held.append(self._reply(frame))
                    keep = 0 if retry or len(seen) >= self.total else 1
                    release, held = held[: len(held) - keep], held[len(held) - keep :]
                    conn.sendall(b"".join(release))

    @staticmethod
    def _info(frame) -> bytes:
        info = struct.pack("<BBH16IfBI", 1, 0, 2048, *([0] * 16), 0.01, 0, 1) + b"\0" * 5
        return encode_frame(frame.type | msg.REPLY_FLAG, frame.seq, info)

    def _reply(self, frame) -> bytes:
        action = self.script.get(len(self.requests), "")
        if action == "drop":
            return b""
        if action == "link-error":
            return encode_frame(MessageType.ERROR, frame.seq, bytes([ErrorCode.BAD_CRC, frame.type]) + b"frame CRC mismatch")
        if action == "device-error":
            return encode_frame(MessageType.ERROR, frame.seq, bytes([ErrorCode.BAD_LABEL, frame.type]) + b"label out of range")
        return encode_frame(frame.type | msg.REPLY_FLAG, frame.seq, frame.payload[::-1])


def _pipelined(script: dict[int, str], total: int = 6) -> tuple[list[bytes], list[tuple[int, int]], Session]:
    device = PipeliningFakeDevice(total, script)
    payloads = [bytes([i]) * 3 + bytes([9 - i]) for i in range(total)]
    with Session.open(device.url) as session:
        replies = list(session.pipeline(MessageType.INFER, payloads))
    device.close()
    assert replies == [p[::-1] for p in payloads]  # each reply matched to its request, in order
    return replies, device.requests, session


def test_pipeline_sends_the_next_request_before_the_reply_and_yields_in_order(fast_timeouts):
    _, requests, session = _pipelined({})
    assert len(requests) == 6 and len({seq for _, seq in requests}) == 6 and session.retries == 0


def test_the_pipelining_fake_starves_a_host_that_waits_for_each_reply(fast_timeouts):
    device = PipeliningFakeDevice(3)
    with Session.open(device.url) as session, pytest.raises(LinkTimeoutError):
        list(session.pipeline(MessageType.INFER, [b"a", b"b", b"c"], window=1, retries=0))
    device.close()


def test_pipeline_resends_a_lost_reply_with_its_seq_and_keeps_the_order(fast_timeouts):
    # Reply 1 is lost while request 2 is in flight: reply 2 arrives first, request 1 is resent
    # with the same seq (the device answers it from its retry cache), replies come out in order.
    _, requests, session = _pipelined({1: "drop"})
    seqs = [seq for _, seq in requests]
    assert session.retries == 1 and len(seqs) == 7 and seqs[2] == seqs[0]


def test_pipeline_resends_a_request_the_device_saw_damaged(fast_timeouts):
    _, requests, session = _pipelined({2: "link-error"})
    seqs = [seq for _, seq in requests]
    assert session.retries == 1 and len(seqs) == 7 and seqs.count(seqs[1]) == 2


def test_pipeline_raises_a_device_error_in_request_order(fast_timeouts):
    device = PipeliningFakeDevice(4, {3: "device-error"})
    got = []
    with Session.open(device.url) as session, pytest.raises(DeviceError) as err:
        for reply in session.pipeline(MessageType.TRAIN, [bytes([i, 1]) for i in range(4)]):
            got.append(reply)
    device.close()
    assert got == [bytes([1, 0]), bytes([1, 1])] and err.value.code == ErrorCode.BAD_LABEL


def test_opening_a_missing_port_is_a_no_device_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(NoDeviceError, match=f"cannot open socket://127.0.0.1:{port}"):
        Session.open(f"socket://127.0.0.1:{port}")
    with pytest.raises(NoDeviceError, match="cannot open /dev/ttyNOPE0"):
        Session.open("/dev/ttyNOPE0")


def test_train_reply_layout_matches_the_firmware():
    # firmware/lib/protocol/server.cpp Server::train: i32 loss_q16, u8 predicted, u8 correct, u16 0, u32 ticks.
    result = msg.TrainResult.parse(struct.pack("<iBBHI", 3 * 65536 // 2, 7, 1, 0, 123456))
    assert (result.loss, result.predicted, result.correct, result.ticks) == (1.5, 7, True, 123456)
    assert msg.TrainResult.LAYOUT.size == 12 and msg.Config.LAYOUT.size == 9


# -- inputs larger than one frame: staged with INPUT_CHUNK ---------------------------------------

class StagingFakeDevice(FakeDevice):
    """Answers INFO (max payload `max_payload`, input `input_bytes`, 4 classes), STATS, INPUT_CHUNK,
    INFER and TRAIN by the firmware's staging rules (server.cpp): chunks in order from offset 0,
    INFER/TRAIN without a tensor use the staged input once. Logit i is the sum of the input's
    bytes plus i, mod 256, so a test can tell whether the whole input arrived. `chunks`: False
    answers INPUT_CHUNK with unknown_type, like firmware from before it."""

    CLASSES = 4

    def __init__(self, max_payload: int, input_bytes: int, chunks: bool = True):
        self.max_payload, self.input_bytes, self.chunks = max_payload, input_bytes, chunks
        self.staged = bytearray()
        self.complete = False
        self.payloads: list[tuple[int, bytes]] = []  # (type, payload) as received
        super().__init__()

    def _answer(self, frame) -> bytes:
        self.requests.append((frame.type, frame.seq))
        self.payloads.append((frame.type, frame.payload))
        reply_type, payload = frame.type | msg.REPLY_FLAG, b""
        if frame.type == MessageType.INFO:
            payload = struct.pack("<BBH16IfBI", 1, 0, self.max_payload, 0, 0, 0, 0, 0, 0, self.input_bytes,
                                  self.CLASSES, 0, 0, 0, 0, 0, 0, 0, 0, 0.01, 0, 1) + b"\0" * 5
        elif frame.type == MessageType.INPUT_CHUNK and self.chunks:
            offset = struct.unpack_from("<I", frame.payload)[0]
            if offset == 0:
                self.staged, self.complete = bytearray(), False
            if offset != len(self.staged) or self.complete and offset:
                return self._error(frame, ErrorCode.BAD_SEQUENCE, b"input chunk out of order")
            self.staged += frame.payload[4:]
            self.complete = len(self.staged) == self.input_bytes
            payload = msg.INPUT_CHUNK_REPLY.pack(len(self.staged), msg.INPUT_COMPLETE if self.complete else 0)
        elif frame.type == MessageType.STATS:
            payload = struct.pack("<8IB", 0, 0, 0, 0, 0, len(self.requests), 0, 0, 0)
        elif frame.type in (MessageType.INFER, MessageType.TRAIN):
            tensor = frame.payload[1:] if frame.type == MessageType.TRAIN else frame.payload
            if tensor and len(tensor) != self.input_bytes:
                return self._error(frame, ErrorCode.BAD_LENGTH, b"input tensor size differs from the model's")
            if frame.type == MessageType.TRAIN and frame.payload[0] >= self.CLASSES:
                return self._error(frame, ErrorCode.BAD_LABEL, b"label out of range")
            if not tensor:
                if not self.complete:
                    return self._error(frame, ErrorCode.BAD_SEQUENCE, b"no input staged")
                tensor, self.complete = bytes(self.staged), False
            logits = bytes((sum(tensor) + i) % 256 for i in range(self.CLASSES))
            if frame.type == MessageType.INFER:
                payload = struct.pack("<BBHI", 0, 0, self.CLASSES, 1) + logits
            else:
                payload = msg.TrainResult.LAYOUT.pack(logits[0], frame.payload[0], 1, 0, 1)
        else:
            return self._error(frame, ErrorCode.UNKNOWN_TYPE, b"unknown message type")
        return encode_frame(reply_type, frame.seq, payload)

    @staticmethod
    def _error(frame, code: ErrorCode, reason: bytes) -> bytes:
        return encode_frame(MessageType.ERROR, frame.seq, bytes([code, frame.type]) + reason)


def _input(size: int, seed: int = 0) -> bytes:
    return bytes((i * 7 + seed) % 256 for i in range(size))


def _logits(tensor: bytes) -> bytes:
    return bytes((sum(tensor) + i) % 256 for i in range(StagingFakeDevice.CLASSES))


def test_an_input_larger_than_a_frame_is_staged_in_chunks_then_inferred(fast_timeouts):
    device = StagingFakeDevice(max_payload=64, input_bytes=200)
    x = _input(200)
    with Session.open(device.url) as session:  # no INFO asked: the session asks it itself
        result = session.infer(x)
    device.close()
    assert result.logits == _logits(x)
    types = [type_ for type_, _ in device.payloads]
    assert types == [MessageType.INFO] + [MessageType.INPUT_CHUNK] * 4 + [MessageType.INFER]
    chunks = [payload for type_, payload in device.payloads if type_ == MessageType.INPUT_CHUNK]
    assert [struct.unpack_from("<I", c)[0] for c in chunks] == [0, 60, 120, 180]
    assert max(len(c) for c in chunks) == 64 and device.payloads[-1][1] == b""  # INFER without a tensor


def test_train_and_the_streams_stage_each_large_sample(fast_timeouts):
    device = StagingFakeDevice(max_payload=64, input_bytes=100)
    xs = [_input(100, seed) for seed in range(3)]
    with Session.open(device.url) as session:
        trained = session.train(xs[0], 3)
        inferred = list(session.infer_many(xs))
        streamed = list(session.train_many((x, 2) for x in xs))
    device.close()
    assert trained.predicted == 3 and trained.loss_q16 == _logits(xs[0])[0]
    assert [r.logits for r in inferred] == [_logits(x) for x in xs]
    assert [r.loss_q16 for r in streamed] == [_logits(x)[0] for x in xs]
    steps = [(type_, payload) for type_, payload in device.payloads if type_ != MessageType.INPUT_CHUNK]
    assert steps[1] == (MessageType.TRAIN, b"\x03") and all(p in (b"", b"\x02") for _, p in steps[2:])
    # One staged sample after the other: two chunks (64 - 4 = 60 data bytes each), then its step.
    types = [type_ for type_, _ in device.payloads[1:]]
    assert types == [MessageType.INPUT_CHUNK, MessageType.INPUT_CHUNK, MessageType.TRAIN] + \
        [MessageType.INPUT_CHUNK, MessageType.INPUT_CHUNK, MessageType.INFER] * 3 + \
        [MessageType.INPUT_CHUNK, MessageType.INPUT_CHUNK, MessageType.TRAIN] * 3


def test_an_input_that_fits_a_frame_is_sent_whole_and_pipelined(fast_timeouts):
    device = StagingFakeDevice(max_payload=256, input_bytes=100)
    xs = [_input(100, seed) for seed in range(4)]
    with Session.open(device.url) as session:
        inferred = list(session.infer_many(xs))
    device.close()
    assert [r.logits for r in inferred] == [_logits(x) for x in xs]
    assert device.payloads[1:] == [(MessageType.INFER, x) for x in xs]


def test_firmware_without_input_chunk_gets_a_clear_error(fast_timeouts):
    device = StagingFakeDevice(max_payload=64, input_bytes=200, chunks=False)
    with Session.open(device.url) as session, pytest.raises(DeviceError) as err:
        session.infer(_input(200))
    device.close()
    assert err.value.code == ErrorCode.UNKNOWN_TYPE and "has no INPUT_CHUNK" in str(err.value)


def test_an_empty_tensor_is_refused_on_the_host():
    # On the wire an INFER without a tensor means "the staged input": never send one by mistake.
    session = Session(serial.serial_for_url("loop://"), first_seq=0)
    with pytest.raises(DeviceError, match="empty input tensor"):
        session.infer(b"")


def test_staging_reply_flags_match_the_firmware():
    # firmware/lib/protocol/protocol.h: kCheckpointApplied, kInputComplete, kAbandonedOtherStaging.
    assert (msg.CHECKPOINT_APPLIED, msg.INPUT_COMPLETE, msg.ABANDONED_OTHER_STAGING) == (1, 1, 2)
    assert msg.INPUT_CHUNK_REQUEST.size == 4 and msg.INPUT_CHUNK_REPLY.size == 5 and MessageType.INPUT_CHUNK == 9


def test_train_many_keeps_two_trains_in_flight(fast_timeouts):
    # The pipelining fake answers a TRAIN only once the next request has arrived: a host that
    # waited for each reply would starve.
    device = PipeliningFakeDevice(4)
    samples = [(bytes(range(i, i + 11)), i) for i in range(4)]
    with Session.open(device.url) as session:
        results = list(session.train_many(samples))
    device.close()
    assert [r.predicted for r in results] == [(bytes([i]) + x)[::-1][4] for x, i in samples]  # echoed reversed
    assert [type_ for type_, _ in device.requests] == [MessageType.INFO] + [MessageType.TRAIN] * 4


def test_bench_link_trains_staged_inputs_one_at_a_time(fast_timeouts, monkeypatch):
    from host_tools.protocol import bench_link

    for name, value in (("SMALL_REQUESTS", 4), ("BULK_REQUESTS", 2), ("STEP_SAMPLES", 2), ("PIPELINED_STREAM", 3)):
        monkeypatch.setattr(bench_link, name, value)
    device = StagingFakeDevice(max_payload=64, input_bytes=100)
    with Session.open(device.url) as session:
        figures = bench_link.bench_link(session)
    device.close()
    assert (figures["step"], figures["pipelined"]) == ("train", False)
    assert 0 <= figures["host_overhead_fraction"] <= 1 and figures["retries"] == 0
    # The twin of a staged TRAIN: the same chunks, then a TRAIN with only an out-of-range label.
    assert (MessageType.TRAIN, bytes([StagingFakeDevice.CLASSES])) in device.payloads


def test_mcutrain_train_streams_one_pipeline_per_learning_rate():
    # A pipelined stream that ends leaves the device idle for the next one's first upload: `mcutrain
    # train` starts a new one only where SET_CONFIG must change the rate (quantize/training/schedule.py).
    from host_tools.commands.train import constant_rate_spans
    from quantize.training.schedule import SEGMENT_STEPS

    steps = SEGMENT_STEPS
    assert constant_rate_spans(lambda step: 0.01, 3 * steps + 7) == [(0, 3 * steps + 7, pytest.approx(0.01))]
    halved = constant_rate_spans(lambda step: 0.01 if step < 2 * steps else 0.005, 3 * steps)
    assert [(start, stop) for start, stop, _ in halved] == [(0, 2 * steps), (2 * steps, 3 * steps)]
