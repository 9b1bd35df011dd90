"""The host side of the device protocol: framing, message layouts, the session, its errors.

Mirrors firmware/lib/protocol/. README.md, section "Protocol", documents the messages.
"""

from host_tools.protocol.errors import (
    CrcError,
    DeviceError,
    LinkTimeoutError,
    NoDeviceError,
    ProtocolError,
    VersionMismatchError,
)
from host_tools.protocol.messages import PROTOCOL_VERSION, ErrorCode, MessageType
from host_tools.protocol.session import Session

__all__ = [
    "CrcError",
    "DeviceError",
    "ErrorCode",
    "LinkTimeoutError",
    "MessageType",
    "NoDeviceError",
    "PROTOCOL_VERSION",
    "ProtocolError",
    "Session",
    "VersionMismatchError",
]
