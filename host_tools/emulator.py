"""Runs firmware on QEMU with its UART on a local TCP port, as a context manager.

    with Emulator("qemu-m7", elf) as emu:
        link = emu.connect()          # pyserial, URL socket://127.0.0.1:PORT
        print(link.readline())        # the boot banner

QEMU starts with `-icount shift=0`: virtual time advances 1 ns per guest instruction, so the
firmware's tick counter measures deterministic instruction counts. The serial port is opened with
`wait=on`, so the guest starts only when the first client connects and never loses the banner.
QEMU never outlives its host: it is stopped on exit from the context, at interpreter exit, and
(through PR_SET_PDEATHSIG) by the kernel when the host process dies, even by SIGKILL.

`python -m host_tools.emulator --board B --elf F` serves `pio run -t upload` for emulated boards.
"""

from __future__ import annotations

import argparse
import atexit
import ctypes
import signal
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path

import serial

from host_tools.errors import EmulatorError
from host_tools.targets import get_emulated_target

QEMU_BINARY = "qemu-system-arm"
# The deterministic instruction-count clock (see module docstring).
ICOUNT_ARGS = ["-icount", "shift=0,align=off,sleep=off"]
# Seconds to wait for QEMU to listen on its serial port before giving up.
CONNECT_TIMEOUT_S = 10.0
CONNECT_RETRY_INTERVAL_S = 0.05
# Seconds to wait for QEMU to exit after SIGTERM before SIGKILL.
STOP_TIMEOUT_S = 3.0
# Attempts with a fresh port when another process took the one chosen.
PORT_ATTEMPTS = 3
# Default read timeout of the pyserial link, seconds.
SERIAL_TIMEOUT_S = 5.0

_PR_SET_PDEATHSIG = 1
_live: "weakref.WeakSet[Emulator]" = weakref.WeakSet()


def die_with_parent() -> None:
    """Runs in the child before exec: the kernel sends SIGKILL to QEMU when its parent dies."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _is_listening(port: int) -> bool:
    """True when a socket listens on 127.0.0.1:port (Linux /proc/net/tcp; state 0A = LISTEN)."""
    wanted = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as table:
        return any(
            fields[1] == wanted and fields[3] == "0A"
            for fields in (line.split() for line in table.readlines()[1:])
        )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Emulator:
    """One QEMU process running one firmware image. Not reusable once stopped."""

    def __init__(self, board: str, elf: Path | str, *, icount: bool = True, extra_args: list[str] | None = None):
        self.target = get_emulated_target(board)
        self.elf = Path(elf)
        if not self.elf.is_file():
            raise EmulatorError(f"firmware image {self.elf} does not exist: build it first (mcutrain build --board {board})")
        self.icount = icount
        self.extra_args = list(extra_args or [])
        self.port: int | None = None
        self.process: subprocess.Popen | None = None
        self._stderr = tempfile.TemporaryFile()
        self._link: serial.Serial | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def command(self, port: int) -> list[str]:
        cmd = [
            QEMU_BINARY,
            "-M", self.target.qemu_machine,
            "-nographic",
            "-monitor", "none",
            "-kernel", str(self.elf),
            "-serial", f"tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on",
            "-semihosting-config", "enable=on,target=native",
        ]
        if self.icount:
            cmd += ICOUNT_ARGS
        return cmd + self.extra_args

    def start(self) -> "Emulator":
        busy = None
        for _ in range(PORT_ATTEMPTS):
            port = free_port()
            if _is_listening(port):
                # Another program listens there: QEMU could not bind it, and the readiness check
                # below would take that program for QEMU.
                busy = port
                continue
            try:
                self.process = subprocess.Popen(
                    self.command(port),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=self._stderr,
                    preexec_fn=die_with_parent,
                    # Its own process group: a terminal's Ctrl-C (SIGINT to the foreground group) reaches
                    # the host alone, which stops QEMU as it unwinds; were QEMU to get it too, it could
                    # die first and the host report a reset link instead of the interruption. It stays
                    # in the session, and dies with the host (die_with_parent).
                    process_group=0,
                )
            except FileNotFoundError:
                raise EmulatorError(
                    f"{QEMU_BINARY} not found: install it with `sudo apt-get install qemu-system-arm` (or `make setup`)"
                ) from None
            _live.add(self)
            self.port = port
            if self._wait_listening():
                return self
            if self.process.poll() is not None and "Address already in use" in self.stderr_text():
                continue  # another process took the port between our probe and QEMU's bind
            break
        if self.process is None:
            raise EmulatorError(f"no free port for QEMU's serial line: 127.0.0.1:{busy} and the other ports tried "
                                f"({PORT_ATTEMPTS}) are in use by another program")
        reason = self.stderr_text().strip() or "no error output"
        self.stop()
        raise EmulatorError(f"QEMU ({self.target.qemu_machine}) did not start: {reason}")

    def _wait_listening(self) -> bool:
        """Waits until QEMU listens on its serial port. Readiness is read from the kernel's socket
        table rather than by connecting: QEMU (wait=on) starts the guest for the first client, and
        that client must be the one that reads the banner."""
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            if _is_listening(self.port):
                return True
            time.sleep(CONNECT_RETRY_INTERVAL_S)
        return False

    def stop(self) -> int | None:
        """Stops QEMU (SIGTERM, then SIGKILL) and returns its exit status."""
        if self._link is not None:
            self._link.close()
            self._link = None
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        _live.discard(self)
        return self.process.returncode

    def __enter__(self) -> "Emulator":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- use -------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The pyserial URL of the firmware's UART."""
        return f"socket://127.0.0.1:{self.port}"

    def connect(self, timeout: float = SERIAL_TIMEOUT_S) -> serial.Serial:
        """Opens the serial link to the firmware on first call (which starts the guest) and
        returns the same pyserial object afterwards."""
        if self.process is None or self.process.poll() is not None:
            raise EmulatorError(f"QEMU is not running: {self.stderr_text().strip() or 'it has exited'}")
        if self._link is None:
            try:
                self._link = serial.serial_for_url(self.url, timeout=timeout)
            except serial.SerialException as err:
                raise EmulatorError(f"cannot open {self.url}: {err}") from None
        return self._link

    def wait(self, timeout: float | None = None) -> int:
        """Waits for the firmware to end the emulation (semihosting exit) and returns its status."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise EmulatorError(f"the firmware in {self.target.name} did not exit within {timeout} s") from None

    def stderr_text(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")


@atexit.register
def _stop_all() -> None:
    for emulator in list(_live):
        emulator.stop()


def serve(board: str, elf: Path, out=sys.stdout) -> int:
    """Runs the image until QEMU exits or the user presses Ctrl-C; returns QEMU's exit status.
    The guest starts when the user's client (pyserial, a terminal) connects to the URL."""
    with Emulator(board, elf) as emu:
        print(f"{emu.target.name}: {elf} in QEMU {emu.target.qemu_machine} (pid {emu.process.pid})", file=out)
        print(f"serial port: {emu.url}", file=out)
        print("the firmware starts when a client connects; press Ctrl-C to stop", file=out, flush=True)
        try:
            return emu.process.wait()
        except KeyboardInterrupt:
            print("stopping QEMU", file=out)
            return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run a firmware image on QEMU (used by `pio run -t upload`).")
    parser.add_argument("--board", required=True)
    parser.add_argument("--elf", required=True, type=Path)
    args = parser.parse_args(argv)
    try:
        return serve(args.board, args.elf)
    except EmulatorError as err:
        print(f"mcutrain: error: {err}", file=sys.stderr)
        return err.exit_code


if __name__ == "__main__":
    sys.exit(main())
