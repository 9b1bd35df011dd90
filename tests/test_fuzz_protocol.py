"""Coverage-guided fuzzing of the firmware's frame parser and request server.

firmware/test/test_protocol_fuzz/fuzz_protocol.cpp is built for the host with clang under
libFuzzer, AddressSanitizer and UndefinedBehaviorSanitizer (every report aborts) and run for a
bounded time from a seed corpus of valid frames. Any crash, leak, sanitizer report or broken
invariant (a request executed twice) makes libFuzzer exit non-zero and fails this test, with the
report in the failure message.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from host_tools import project
from host_tools.protocol import MessageType
from host_tools.protocol import messages as msg
from host_tools.protocol.framing import encode_frame

# Seconds of fuzzing per test run (the suite's bound); MCUTRAIN_FUZZ_SECONDS overrides it.
FUZZ_SECONDS = int(os.environ.get("MCUTRAIN_FUZZ_SECONDS", "20"))
FIRMWARE = project.ROOT / "firmware"
SOURCES = [
    FIRMWARE / "test" / "test_protocol_fuzz" / "fuzz_protocol.cpp",
    FIRMWARE / "lib" / "protocol" / "frame.cpp",
    FIRMWARE / "lib" / "protocol" / "server.cpp",
    FIRMWARE / "lib" / "mcu_core" / "crc32.cpp",
]
SANITIZE = ["-fsanitize=fuzzer,address,undefined", "-fno-sanitize-recover=all"]


def _seed_corpus(folder) -> None:
    folder.mkdir()
    fake_input = bytes(range(16))  # fakes.h: 16-byte input, 4 classes, 300 trainable bytes
    seeds = {
        "info": encode_frame(MessageType.INFO, 1),
        "stats": encode_frame(MessageType.STATS, 2),
        "infer": encode_frame(MessageType.INFER, 3, fake_input),
        "train": encode_frame(MessageType.TRAIN, 4, b"\x01" + fake_input) * 2,
        "config": encode_frame(MessageType.SET_CONFIG, 5, msg.Config(0.1, True, 9).pack()),
        "read": encode_frame(MessageType.CHECKPOINT_READ, 6, msg.CHECKPOINT_READ_REQUEST.pack(0, 100)),
        "write": encode_frame(MessageType.CHECKPOINT_WRITE, 7, msg.CHECKPOINT_WRITE_REQUEST.pack(0, 300, 0) + bytes(200))
        + encode_frame(MessageType.CHECKPOINT_WRITE, 8, msg.CHECKPOINT_WRITE_REQUEST.pack(200, 300, 0) + bytes(100)),
        "reset": encode_frame(MessageType.RESET_PARAMS, 9),
        # An input staged in two chunks, inferred, staged again and trained on (TRAIN with a label only).
        "staged": encode_frame(MessageType.INPUT_CHUNK, 10, msg.INPUT_CHUNK_REQUEST.pack(0) + fake_input[:10])
        + encode_frame(MessageType.INPUT_CHUNK, 11, msg.INPUT_CHUNK_REQUEST.pack(10) + fake_input[10:])
        + encode_frame(MessageType.INFER, 12)
        + encode_frame(MessageType.INPUT_CHUNK, 13, msg.INPUT_CHUNK_REQUEST.pack(0) + fake_input)
        + encode_frame(MessageType.TRAIN, 14, b"\x01"),
    }
    for name, frames in seeds.items():
        (folder / name).write_bytes(b"\x00" + frames)  # raw mode: encoded bytes as they are
    # Frame mode (fuzz_protocol.cpp): pieces of (type, seq, payload) that the target encodes with
    # a valid CRC, so mutations reach the request handlers.
    requests = [
        (MessageType.INFO, b""), (MessageType.STATS, b""), (MessageType.INFER, fake_input),
        (MessageType.TRAIN, b"\x01" + fake_input), (MessageType.SET_CONFIG, msg.Config(0.1, True, 9).pack()),
        (MessageType.CHECKPOINT_READ, msg.CHECKPOINT_READ_REQUEST.pack(0, 100)),
        (MessageType.CHECKPOINT_WRITE, msg.CHECKPOINT_WRITE_REQUEST.pack(0, 300, 0) + bytes(200)),
        (MessageType.CHECKPOINT_WRITE, msg.CHECKPOINT_WRITE_REQUEST.pack(200, 300, 0) + bytes(100)),
        (MessageType.RESET_PARAMS, b""),
        (MessageType.INPUT_CHUNK, msg.INPUT_CHUNK_REQUEST.pack(0) + fake_input[:10]),
        (MessageType.INPUT_CHUNK, msg.INPUT_CHUNK_REQUEST.pack(10) + fake_input[10:]),
        (MessageType.INFER, b""),
        (MessageType.INPUT_CHUNK, msg.INPUT_CHUNK_REQUEST.pack(0) + fake_input),
        (MessageType.TRAIN, b"\x01"),
    ]
    for index, (type_, payload) in enumerate(requests):
        (folder / f"frame-{index}").write_bytes(b"\x04" + bytes([type_, index]) + payload.replace(b"\xfe", b"\xfd"))
    (folder / "frames-all").write_bytes(b"\x04" + b"\xfe".join(
        bytes([type_, index]) + payload.replace(b"\xfe", b"\xfd") for index, (type_, payload) in enumerate(requests)))


def test_frame_parser_survives_libfuzzer_with_asan_and_ubsan(tmp_path):
    clang = shutil.which("clang++")
    if clang is None:
        pytest.fail("clang++ is not installed: run `make setup` (Debian packages clang and libclang-rt-14-dev)")
    binary = tmp_path / "fuzz_protocol"
    build = subprocess.run(
        [clang, "-std=c++17", "-g", "-O1", *SANITIZE, "-DMCUTRAIN_LIBFUZZER",
         f"-I{FIRMWARE / 'include'}", f"-I{FIRMWARE / 'lib' / 'protocol'}", f"-I{FIRMWARE / 'lib' / 'mcu_core'}",
         *map(str, SOURCES), "-o", str(binary)],
        capture_output=True, text=True)
    assert build.returncode == 0, f"building the fuzz target failed:\n{build.stderr[-3000:]}"
    corpus = tmp_path / "corpus"
    _seed_corpus(corpus)
    run = subprocess.run(
        [str(binary), f"-max_total_time={FUZZ_SECONDS}", "-seed=1", "-timeout=10", "-rss_limit_mb=2048",
         "-print_final_stats=1", f"-artifact_prefix={tmp_path}/", str(corpus)],
        capture_output=True, text=True, timeout=FUZZ_SECONDS + 120)
    output = run.stdout + run.stderr
    assert run.returncode == 0, f"the fuzzer found a failure (artifacts in {tmp_path}):\n{output[-6000:]}"
    runs = re.search(r"stat::number_of_executed_units:\s*(\d+)", output)
    assert runs and int(runs.group(1)) > 10000, output[-2000:]
