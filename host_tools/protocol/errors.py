"""Errors of a device session, each a McutrainError with its own exit code, so the CLI's one
handler (host_tools.cli.main) prints one line and exits non-zero without a traceback."""

from __future__ import annotations

from host_tools.errors import McutrainError


class ProtocolError(McutrainError):
    """Base of every device-link failure."""

    exit_code = 6


class NoDeviceError(ProtocolError):
    """The port cannot be opened (no such device, port busy, emulator not running)."""


class LinkTimeoutError(ProtocolError):
    """No complete reply within the timeout, after every retry."""


class CrcError(ProtocolError):
    """Replies kept arriving damaged (CRC or framing) after every retry."""


class VersionMismatchError(ProtocolError):
    """The device speaks another protocol version, or is not running mcutrain firmware."""

    exit_code = 7


class DeviceError(ProtocolError):
    """The device answered ERROR: `code` (host_tools.protocol.messages.ErrorCode) and its reason."""

    exit_code = 8

    def __init__(self, code: int, reason: str, request: str = ""):
        from host_tools.protocol.messages import error_name

        self.code = code
        self.reason = reason
        self.request = request
        where = f" to {request}" if request else ""
        super().__init__(f"device answered {error_name(code)}{where}: {reason}")
