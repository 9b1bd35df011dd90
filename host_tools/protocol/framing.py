"""Frames on the wire: COBS(header | payload | crc32) + 0x00, as firmware/lib/protocol/frame.h.

header: version u8, type u8, seq u16, payload length u16 (little-endian); crc32: zlib.crc32 of
header and payload. COBS comes from the `cobs` package, the CRC from the standard library.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from cobs import cobs

from host_tools.protocol.messages import PROTOCOL_VERSION, message_name

DELIMITER = b"\x00"
HEADER = struct.Struct("<BBHH")
CRC = struct.Struct("<I")


@dataclass(frozen=True)
class Frame:
    version: int
    type: int
    seq: int
    payload: bytes

    def __str__(self) -> str:
        return f"{message_name(self.type)} seq={self.seq} len={len(self.payload)}"


class FrameDecodeError(ValueError):
    """A delimited chunk is not a valid frame. kind: 'cobs', 'short', 'length' or 'crc'."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def frame_body(type_: int, seq: int, payload: bytes, version: int = PROTOCOL_VERSION) -> bytes:
    """Header, payload and CRC, before COBS."""
    body = HEADER.pack(version, type_, seq & 0xFFFF, len(payload)) + bytes(payload)
    return body + CRC.pack(zlib.crc32(body))


def encode_frame(type_: int, seq: int, payload: bytes = b"", version: int = PROTOCOL_VERSION) -> bytes:
    """The bytes to send: COBS-encoded frame and its delimiter."""
    return cobs.encode(frame_body(type_, seq, payload, version)) + DELIMITER


def decode_frame(chunk: bytes) -> Frame:
    """One delimited chunk (without its delimiter) -> Frame; raises FrameDecodeError."""
    try:
        body = cobs.decode(bytes(chunk))
    except cobs.DecodeError as err:
        raise FrameDecodeError("cobs", f"not a COBS frame ({err})") from None
    if len(body) < HEADER.size + CRC.size:
        raise FrameDecodeError("short", f"frame of {len(body)} bytes is shorter than header and CRC")
    version, type_, seq, length = HEADER.unpack_from(body)
    if HEADER.size + length + CRC.size != len(body):
        raise FrameDecodeError("length", f"header says {length} payload bytes, frame has {len(body) - HEADER.size - CRC.size}")
    (crc,) = CRC.unpack_from(body, HEADER.size + length)
    if crc != zlib.crc32(body[: HEADER.size + length]):
        raise FrameDecodeError("crc", "frame CRC mismatch")
    return Frame(version, type_, seq, body[HEADER.size : HEADER.size + length])
