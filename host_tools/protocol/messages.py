"""The protocol's numbers and payload layouts, mirroring firmware/lib/protocol/protocol.h.

Every payload is little-endian without padding. Each reply type has a dataclass and a `parse`
classmethod; requests are built by host_tools.protocol.session.Session.
"""

from __future__ import annotations

import struct
from dataclasses import asdict, dataclass, field
from enum import IntEnum

PROTOCOL_VERSION = 1
REPLY_FLAG = 0x80
# seq the device puts on an ERROR about a frame whose header it could not read.
UNKNOWN_SEQ = 0xFFFF


class MessageType(IntEnum):
    INFO = 0x01
    SET_CONFIG = 0x02
    INFER = 0x03
    TRAIN = 0x04
    STATS = 0x05
    CHECKPOINT_READ = 0x06
    CHECKPOINT_WRITE = 0x07
    RESET_PARAMS = 0x08
    INPUT_CHUNK = 0x09
    ERROR = 0x7F


class ErrorCode(IntEnum):
    NONE = 0
    BAD_CRC = 1
    OVERSIZE = 2
    TRUNCATED = 3
    UNKNOWN_TYPE = 4
    BAD_VERSION = 5
    BAD_LENGTH = 6
    BAD_LABEL = 7
    TIMEOUT = 8
    BAD_VALUE = 9
    BAD_SEQUENCE = 10
    NO_MODEL = 11
    NOT_IN_THIS_BUILD = 12
    TOO_LARGE = 13
    BAD_CHECKSUM = 14
    INTERNAL = 15


# Errors that mean the request was damaged in transit: the session resends it (same seq).
LINK_ERRORS = frozenset({ErrorCode.BAD_CRC, ErrorCode.OVERSIZE, ErrorCode.TRUNCATED, ErrorCode.TIMEOUT})

# runtime::Status (firmware/include/runtime.h), as INFO's model_status reports it.
MODEL_STATUS = {0: "ok", 1: "no model", 2: "bad input size", 3: "label out of range", 4: "not in this build", 5: "internal"}


def error_name(code: int) -> str:
    try:
        return ErrorCode(code).name.lower()
    except ValueError:
        return f"error {code}"


def message_name(type_: int) -> str:
    try:
        return MessageType(type_ & ~REPLY_FLAG if type_ != MessageType.ERROR else type_).name
    except ValueError:
        return f"0x{type_:02x}"


def _read_str8(data: bytes, offset: int) -> tuple[str, int]:
    size = data[offset]
    return data[offset + 1 : offset + 1 + size].decode(errors="replace"), offset + 1 + size


@dataclass
class DeviceInfo:
    protocol_version: int
    model_status: str
    max_payload: int
    model_hash: int
    ram_budget: int
    static_ram: int
    stack: int
    stack_high_water: int
    arena_bytes: int
    input_bytes: int
    output_bytes: int
    trainable_bytes: int
    peak_sram_last_step: int
    clock_hz: int
    counter_hz: int
    samples_trained: int
    frames_ok: int
    frames_bad: int
    checkpoint_staging_bytes: int
    learning_rate: float
    gradient_filter: bool
    seed: int
    firmware: str
    board: str
    cpu: str
    model_name: str
    model_reason: str

    _FIXED = struct.Struct("<BBH16IfBI")

    @classmethod
    def parse(cls, data: bytes) -> "DeviceInfo":
        fixed = cls._FIXED.unpack_from(data)
        strings, offset = [], cls._FIXED.size
        for _ in range(5):
            text, offset = _read_str8(data, offset)
            strings.append(text)
        values = list(fixed)
        values[1] = MODEL_STATUS.get(values[1], f"status {values[1]}")
        values[-2] = bool(values[-2])
        return cls(*values, *strings)

    @property
    def has_model(self) -> bool:
        return self.model_status == "ok"

    def to_dict(self) -> dict:
        result = asdict(self)
        result["model_hash"] = f"0x{self.model_hash:08x}"
        return result


@dataclass
class Config:
    learning_rate: float
    gradient_filter: bool
    seed: int

    LAYOUT = struct.Struct("<fBI")

    def pack(self) -> bytes:
        return self.LAYOUT.pack(self.learning_rate, int(self.gradient_filter), self.seed)

    @classmethod
    def parse(cls, data: bytes) -> "Config":
        lr, gf, seed = cls.LAYOUT.unpack(data)
        return cls(lr, bool(gf), seed)


@dataclass
class InferResult:
    predicted: int
    logits: bytes    # int8 values
    ticks: int       # board counter ticks of the forward pass

    _FIXED = struct.Struct("<BBHI")

    @classmethod
    def parse(cls, data: bytes) -> "InferResult":
        predicted, _, count, ticks = cls._FIXED.unpack_from(data)
        return cls(predicted, bytes(data[cls._FIXED.size : cls._FIXED.size + count]), ticks)


@dataclass
class TrainResult:
    loss_q16: int
    predicted: int
    correct: bool
    ticks: int

    LAYOUT = struct.Struct("<iBBHI")

    @classmethod
    def parse(cls, data: bytes) -> "TrainResult":
        loss, predicted, correct, _, ticks = cls.LAYOUT.unpack(data)
        return cls(loss, predicted, bool(correct), ticks)

    @property
    def loss(self) -> float:
        return self.loss_q16 / 65536.0


@dataclass
class Stats:
    samples_trained: int
    samples_correct: int
    loss_sum_q16: int
    samples_inferred: int
    frames_ok: int
    retries_answered: int
    peak_sram_last_step: int
    errors: dict[str, int] = field(default_factory=dict)  # by error name, every kind listed

    _FIXED = struct.Struct("<8IB")

    @classmethod
    def parse(cls, data: bytes) -> "Stats":
        trained, correct, loss_lo, loss_hi, inferred, frames_ok, retries, peak, kinds = cls._FIXED.unpack_from(data)
        counts = struct.unpack_from(f"<{kinds}I", data, cls._FIXED.size)
        errors = {error_name(code): count for code, count in enumerate(counts) if code != ErrorCode.NONE}
        return cls(trained, correct, loss_lo | (loss_hi << 32), inferred, frames_ok, retries, peak, errors)

    @property
    def running_loss(self) -> float | None:
        return self.loss_sum_q16 / 65536.0 / self.samples_trained if self.samples_trained else None

    @property
    def running_accuracy(self) -> float | None:
        return self.samples_correct / self.samples_trained if self.samples_trained else None

    @property
    def errors_total(self) -> int:
        return sum(self.errors.values())

    def to_dict(self) -> dict:
        result = asdict(self)
        result["running_loss"] = self.running_loss
        result["running_accuracy"] = self.running_accuracy
        return result


CHECKPOINT_READ_REQUEST = struct.Struct("<IH")
CHECKPOINT_READ_REPLY = struct.Struct("<III")       # total, total_crc, offset; then data
CHECKPOINT_WRITE_REQUEST = struct.Struct("<III")    # offset, total, total_crc; then data
CHECKPOINT_WRITE_REPLY = struct.Struct("<IB")       # received, flags
INPUT_CHUNK_REQUEST = struct.Struct("<I")           # offset; then data
INPUT_CHUNK_REPLY = struct.Struct("<IB")            # staged, flags
RESET_PARAMS_REPLY = struct.Struct("<II")           # total, crc
ERROR_REPLY = struct.Struct("<BB")                  # code, request type; then reason text

# Bits of the flags byte of CHECKPOINT_WRITE's and INPUT_CHUNK's replies. Both stage in the
# device's arena, one at a time: the offset-0 chunk of one abandons what the other had staged.
CHECKPOINT_APPLIED = 0x01          # CHECKPOINT_WRITE: complete, CRC good, applied
INPUT_COMPLETE = 0x01              # INPUT_CHUNK: the whole input tensor is staged
ABANDONED_OTHER_STAGING = 0x02     # this chunk abandoned the other kind's staging
