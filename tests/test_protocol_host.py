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
    whose seq it has seen before, a retry, is answered at once, after the held ones), so a host
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
                    retry = frame.seq in seen
                    seen.add(frame.seq)
                    held.append(self._reply(frame))
                    keep = 0 if retry or len(seen) >= self.total else 1
                    release, held = held[: len(held) - keep], held[len(held) - keep :]
                    conn.sendall(b"".join(release))

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
