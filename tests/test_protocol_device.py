"""The protocol against the real firmware on qemu-m7 with the `ref` model linked in: robustness
under a storm of damaged frames, retries that never execute twice, checkpoints that are applied
whole or not at all, and INFO without a model."""

from __future__ import annotations

import random
import time
import zlib

import numpy as np
import pytest
import serial
from cobs import cobs

from host_tools.emulator import Emulator
from host_tools.protocol import DeviceError, ErrorCode, MessageType, Session
from host_tools.protocol import messages as msg
from host_tools.protocol.device import emulated_firmware
from host_tools.protocol.framing import encode_frame, frame_body
from host_tools.protocol.session import READ_SLICE_S

pytestmark = [pytest.mark.emulator, pytest.mark.slow]

BOARD = "qemu-m7"
# Seconds to wait for the device's own report of a stalled frame (200 ms of device time).
STALL_REPORT_TIMEOUT_S = 30.0


@pytest.fixture(scope="module")
def ref_image():
    return emulated_firmware(BOARD, "ref", quiet=True)


@pytest.fixture(scope="module")
def device(ref_image):
    with Emulator(BOARD, ref_image) as emulator:
        session = Session(emulator.connect(timeout=READ_SLICE_S), url=emulator.url, first_seq=0)
        yield session


def _sample(seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(-128, 128, 784, dtype=np.int8).tobytes()


def test_info_reports_the_linked_model(device):
    info = device.info()
    assert (info.protocol_version, info.model_status, info.model_name) == (1, "ok", "ref")
    assert (info.input_bytes, info.output_bytes, info.board) == (784, 10, BOARD)
    assert info.max_payload >= 785 and info.ram_budget == 256 * 1024
    assert 0 < info.trainable_bytes <= info.checkpoint_staging_bytes
    assert 0 < info.stack_high_water < info.stack


def test_set_config_is_range_checked(device):
    assert device.set_config(0.05, True, 7) == msg.Config(pytest.approx(0.05), True, 7)
    for bad in ((0.0, False, 1), (1.5, False, 1), (float("nan"), False, 1), (0.1, False, 0)):
        with pytest.raises(DeviceError) as err:
            device.set_config(*bad)
        assert err.value.code == ErrorCode.BAD_VALUE
    info = device.info()
    assert (info.learning_rate, info.gradient_filter, info.seed) == (pytest.approx(0.05), True, 7)


def test_wrong_tensor_size_and_label_are_refused(device):
    with pytest.raises(DeviceError) as err:
        device.infer(bytes(783))
    assert err.value.code == ErrorCode.BAD_LENGTH
    with pytest.raises(DeviceError) as err:
        device.train(_sample(), 10)
    assert err.value.code == ErrorCode.BAD_LABEL


def test_retried_request_is_answered_from_the_last_reply(device):
    before = device.stats()
    seq = 30000
    replies = []
    for _ in range(2):
        for type_, payload in ((MessageType.INFER, _sample(1)),):
            device.send_raw(encode_frame(type_, seq, payload))
            frame = device.read_frame(10.0)
            assert frame is not None and frame.seq == seq and frame.type == MessageType.INFER | msg.REPLY_FLAG
            replies.append(frame.payload)
    assert replies[0] == replies[1]
    train_replies = []
    for _ in range(2):  # TRAIN: trained once (or refused once while training is not in this build)
        device.send_raw(encode_frame(MessageType.TRAIN, seq + 1, bytes([3]) + _sample(2)))
        frame = device.read_frame(30.0)
        assert frame is not None and frame.seq == seq + 1
        train_replies.append(frame)
    assert train_replies[0] == train_replies[1]
    after = device.stats()
    assert after.samples_inferred - before.samples_inferred == 1
    assert after.retries_answered - before.retries_answered == 2
    executed = (after.samples_trained - before.samples_trained) + (
        after.errors["not_in_this_build"] - before.errors["not_in_this_build"])
    assert executed == 1


def test_back_to_back_requests_are_answered_in_order_with_the_results_of_single_ones(device):
    # Both requests are on the wire before any reply is read: the second arrives (through the
    # UART receive interrupt and its ring) while the device computes the first.
    inputs = [_sample(10 + i) for i in range(6)]
    single = [device.infer(x) for x in inputs]
    base = 50000
    device.send_raw(encode_frame(MessageType.INFER, base, inputs[0]) + encode_frame(MessageType.INFER, base + 1, inputs[1]))
    frames = [device.read_frame(30.0) for _ in range(2)]
    assert [f.seq for f in frames] == [base, base + 1]
    # (ticks differ a little: they include the receive interrupts that ran during the pass)
    outputs = [(r.predicted, r.logits) for r in single]
    assert [(r.predicted, r.logits) for r in map(msg.InferResult.parse, (f.payload for f in frames))] == outputs[:2]
    assert [(r.predicted, r.logits) for r in device.infer_many(inputs)] == outputs  # the CLI's pipelined stream


def test_max_size_frame_arriving_during_a_forward_pass_is_received_whole(device):
    # A max-payload frame sent right behind an INFER reaches the ring while the forward pass
    # runs; the device refuses it for its length, which it can only do once every byte arrived
    # and the CRC matched (a lost byte would be a bad_crc/truncated ERROR instead).
    max_payload = device.info().max_payload
    before = device.stats()
    big = bytes(random.Random(7).randrange(256) for _ in range(max_payload))
    base = 51000
    device.send_raw(encode_frame(MessageType.INFER, base, _sample(20)) + encode_frame(MessageType.INFER, base + 1, big)
                    + encode_frame(MessageType.INFER, base + 2, _sample(21)))
    frames = [device.read_frame(30.0) for _ in range(3)]
    assert [f.seq for f in frames] == [base, base + 1, base + 2]
    assert [f.type for f in frames] == [MessageType.INFER | msg.REPLY_FLAG, MessageType.ERROR, MessageType.INFER | msg.REPLY_FLAG]
    assert frames[1].payload[0] == ErrorCode.BAD_LENGTH
    after = device.stats()
    for kind in ("bad_crc", "truncated", "timeout", "oversize"):
        assert after.errors[kind] == before.errors[kind], kind
    assert after.errors["bad_length"] - before.errors["bad_length"] == 1


def test_retry_of_the_request_before_the_last_is_answered_from_the_cache(device):
    # A pipelining host may resend request i after request i+1 was executed: the device keeps
    # the reply before the last one too, so the retry does not execute again.
    before = device.stats()
    base = 52000
    first = encode_frame(MessageType.INFER, base, _sample(30))
    device.send_raw(first + encode_frame(MessageType.INFER, base + 1, _sample(31)))
    replies = [device.read_frame(30.0) for _ in range(2)]
    device.send_raw(first)
    again = device.read_frame(30.0)
    assert again is not None and (again.seq, again.payload) == (base, replies[0].payload)
    after = device.stats()
    assert after.samples_inferred - before.samples_inferred == 2
    assert after.retries_answered - before.retries_answered == 1


def test_a_staged_input_gives_the_one_frame_logits_once_and_yields_to_a_checkpoint(device):
    x = _sample(40)
    whole = device.infer(x)
    for offset in range(0, 784, 300):  # three chunks, although one frame would take the input
        staged, flags = msg.INPUT_CHUNK_REPLY.unpack(
            device.request(MessageType.INPUT_CHUNK, msg.INPUT_CHUNK_REQUEST.pack(offset) + x[offset : offset + 300]))
    assert (staged, flags) == (784, msg.INPUT_COMPLETE)
    staged_result = msg.InferResult.parse(device.request(MessageType.INFER, b"", timeout=30.0))
    assert (staged_result.predicted, staged_result.logits) == (whole.predicted, whole.logits)
    with pytest.raises(DeviceError) as err:
        device.request(MessageType.INFER, b"")
    assert err.value.code == ErrorCode.BAD_SEQUENCE and "used by the last" in err.value.reason
    # A checkpoint (the parameters as they are) staged over a staged input: it says so, and the
    # input is gone rather than corrupt.
    device.stage_input(x)
    params = device.checkpoint_read()
    reply = device.request(MessageType.CHECKPOINT_WRITE,
                           msg.CHECKPOINT_WRITE_REQUEST.pack(0, len(params), zlib.crc32(params)) + params)
    assert msg.CHECKPOINT_WRITE_REPLY.unpack(reply) == (
        len(params), msg.CHECKPOINT_APPLIED | msg.ABANDONED_OTHER_STAGING)
    with pytest.raises(DeviceError) as err:
        device.request(MessageType.INFER, b"")
    assert err.value.code == ErrorCode.BAD_SEQUENCE and "CHECKPOINT_WRITE" in err.value.reason
    assert device.checkpoint_read() == params


def _damaged_crc(rng: random.Random, seq: int) -> bytes:
    body = bytearray(frame_body(MessageType.CHECKPOINT_WRITE, seq, bytes(rng.randrange(256) for _ in range(20))))
    body[rng.randrange(6, len(body))] ^= 1 << rng.randrange(8)  # payload or CRC: length stays right
    return cobs.encode(bytes(body)) + b"\x00"


def _truncated(rng: random.Random, seq: int) -> bytes:
    body = frame_body(MessageType.STATS, seq, bytes(rng.randrange(1, 256) for _ in range(12)))
    return cobs.encode(body[: rng.randrange(10, len(body) - 1)]) + b"\x00"


def _noise(rng: random.Random, seq: int) -> bytes:
    return bytes(rng.randrange(1, 256) for _ in range(rng.randrange(1, 30))) + b"\x00"


def test_storm_of_damaged_frames_leaves_the_device_responsive_and_untouched(device):
    rng = random.Random(6)
    checkpoint_before = device.checkpoint_read()
    stats_before = device.stats()
    max_payload = device.info().max_payload
    crafted = {
        "bad_crc": lambda seq: _damaged_crc(rng, seq),
        "truncated": lambda seq: _truncated(rng, seq),
        "noise": lambda seq: _noise(rng, seq),
        "unknown_type": lambda seq: encode_frame(rng.choice([0x00, 0x0A, 0x40, 0x7F, 0x85]), seq, b"x"),
        "bad_version": lambda seq: encode_frame(MessageType.INFO, seq, b"", version=rng.choice([0, 2, 255])),
        # (an INFER without a tensor asks for a staged input: bad_sequence below, not bad_length)
        "bad_length": lambda seq: encode_frame(MessageType.INFER, seq, bytes(rng.randrange(1, 40))),
        "bad_sequence": lambda seq: rng.choice([
            encode_frame(MessageType.CHECKPOINT_WRITE, seq,
                         msg.CHECKPOINT_WRITE_REQUEST.pack(rng.randrange(1, 1000), len(checkpoint_before), 0) + b"zz"),
            encode_frame(MessageType.INPUT_CHUNK, seq, msg.INPUT_CHUNK_REQUEST.pack(rng.randrange(1, 784)) + b"zz"),
            encode_frame(MessageType.INFER, seq),  # no input staged
        ]),
    }
    rare = {  # large frames: few, the emulated UART moves ~10 KB/s
        "oversize": lambda seq: encode_frame(MessageType.INFER, seq, bytes(max_payload + 1 + rng.randrange(64))),
        "bad_label": lambda seq: encode_frame(MessageType.TRAIN, seq, bytes([rng.randrange(10, 256)]) + _sample(3)),
    }
    sent = dict.fromkeys(list(crafted) + list(rare), 0)
    frames = 0
    valid = 0
    seq = 40000
    while frames < 1100:
        for _ in range(10):
            kind = rng.choice(list(rare)) if frames % 100 == 99 else rng.choice(list(crafted))
            device.send_raw(crafted.get(kind, rare.get(kind))(seq))
            sent[kind] += 1
            seq += 1
            frames += 1
        if rng.random() < 0.5:
            assert device.info().model_name == "ref"
        else:
            device.stats()
        valid += 1
    # Two frames that stall before their delimiter: the device reports each after its timeout.
    for stall_seq in (60000, 60001):
        device.send_raw(encode_frame(MessageType.STATS, stall_seq)[:-3])
        deadline = time.monotonic() + STALL_REPORT_TIMEOUT_S
        while time.monotonic() < deadline:
            frame = device.read_frame(1.0)
            if frame is not None and frame.seq == stall_seq:
                assert frame.type == MessageType.ERROR and frame.payload[0] == ErrorCode.TIMEOUT
                break
        else:
            pytest.fail(f"no timeout report for the stalled frame seq={stall_seq}")
    info = device.info()
    assert info.model_name == "ref" and info.has_model
    stats = device.stats()
    seen = {name: stats.errors[name] - stats_before.errors[name] for name in stats.errors}
    for kind in ("unknown_type", "bad_version", "bad_length", "bad_sequence", "oversize", "bad_label"):
        assert seen[kind] == sent[kind], (kind, seen, sent)
    assert seen["bad_crc"] + seen["truncated"] == sent["bad_crc"] + sent["truncated"] + sent["noise"], (seen, sent)
    assert seen["timeout"] == 2
    assert stats.frames_ok - stats_before.frames_ok >= valid + 1
    assert device.checkpoint_read() == checkpoint_before
    assert frames + 2 >= 1000


def test_link_killed_mid_checkpoint_write_leaves_old_parameters(ref_image):
    with Emulator(BOARD, ref_image) as emulator:
        link = emulator.connect(timeout=READ_SLICE_S)
        first = Session(link, url=emulator.url)
        old = first.checkpoint_read()
        new = bytes((b + 1) & 0xFF for b in old)
        total_crc = zlib.crc32(new)
        chunk = 512
        reply = first.request(MessageType.CHECKPOINT_WRITE,
                              msg.CHECKPOINT_WRITE_REQUEST.pack(0, len(new), total_crc) + new[:chunk])
        assert msg.CHECKPOINT_WRITE_REPLY.unpack(reply) == (chunk, 0)
        second_chunk = encode_frame(MessageType.CHECKPOINT_WRITE, 1234,
                                    msg.CHECKPOINT_WRITE_REQUEST.pack(chunk, len(new), total_crc) + new[chunk:2 * chunk])
        first.send_raw(second_chunk[: len(second_chunk) // 2])
        link.close()  # the cable is pulled in the middle of a frame

        with Session(serial.serial_for_url(emulator.url, timeout=READ_SLICE_S), url=emulator.url) as second:
            assert second.checkpoint_read() == old
            second.checkpoint_write(new, chunk_bytes=chunk)
            assert second.checkpoint_read() == new
            size, crc = second.reset_params()
            assert (size, crc) == (len(old), zlib.crc32(old))
            assert second.checkpoint_read() == old


def test_info_answers_without_a_model(firmware):
    image = firmware.get(BOARD)  # no model linked
    with Emulator(BOARD, image.elf) as emulator:
        with Session(emulator.connect(timeout=READ_SLICE_S), url=emulator.url) as session:
            info = session.info()
            assert (info.model_status, info.model_reason, info.model_name) == ("no model", "no model linked", "")
            for call in (lambda: session.infer(bytes(784)), session.checkpoint_read, session.reset_params):
                with pytest.raises(DeviceError) as err:
                    call()
                assert err.value.code == ErrorCode.NO_MODEL
            assert session.stats().errors["no_model"] == 3
