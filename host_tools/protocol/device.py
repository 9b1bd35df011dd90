"""Opening a device for a CLI command: `--port URL` (a real board, or an emulator already
running), or `--board qemu-m7|qemu-stm32f405`, which builds the firmware with the model linked in
(once per model and board) and starts QEMU for the duration of the command.

    with open_device(args) as device:      # a host_tools.protocol.Session
        print(device.info().model_name)
"""

from __future__ import annotations

import contextlib
import functools
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from host_tools.errors import McutrainError
from host_tools.model_source import MODEL_HELP
from host_tools.protocol.session import READ_SLICE_S, Session
from host_tools.protocol.trace import Tracer
from host_tools.targets import EMULATED

if TYPE_CHECKING:
    from quantize.training_plan import TrainingPlan

DEFAULT_BOARD = "qemu-m7"
DEFAULT_MODEL = "ref"


def add_device_arguments(parser, *, json_output: bool = True) -> None:
    """--port / --board / --model / --trace (and --json) for a subcommand that talks to a device."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--port", metavar="URL",
                       help="serial port or pyserial URL of a running device (/dev/ttyACM0, socket://127.0.0.1:PORT)")
    where.add_argument("--board", choices=EMULATED,
                       help=f"start this board in QEMU for the command (default {DEFAULT_BOARD} when no --port)")
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help="model linked into the emulated firmware, and the host's reference for data and "
                             f"checks: {MODEL_HELP} (default {DEFAULT_MODEL})")
    parser.add_argument("--plan",
                        help="the training plan the firmware was built with (mcutrain build --plan): a JSON file or "
                             "the name of one of the model's plans; default the classifier head")
    parser.add_argument("--trace", action="store_true", help="hex-dump the link's traffic with time stamps to stderr")
    if json_output:
        parser.add_argument("--json", action="store_true", help="print machine-readable JSON on stdout")


def add_progress_argument(parser) -> None:
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def status(message: str) -> None:
    """A progress note for the user: stderr, so --json output on stdout stays clean."""
    print(message, file=sys.stderr, flush=True)


@dataclass
class HostModel:
    """The host's copy of the model the device runs: its int8 .tflite, training plan (None: the
    default) and input preprocessing."""

    name: str
    tflite: bytes
    origin: str
    plan: TrainingPlan | None = None

    @functools.cached_property
    def blob(self) -> bytes:
        """The blob `build --model [--plan]` links (the same compiler and plan), lowered in
        memory: a cached file could outlive a change of the compiler."""
        from quantize.lower import lower_tflite

        return lower_tflite(self.tflite, self.name, plan=self.plan).blob

    @functools.cached_property
    def training_plan(self) -> TrainingPlan:
        """The plan the blob is compiled with: the given one, or the default (the classifier head)."""
        from quantize.tflite_model import parse_tflite
        from quantize.training_plan import head_plan

        return self.plan if self.plan is not None else head_plan(parse_tflite(self.tflite))

    @property
    def blob_hash(self) -> int:
        """CRC-32 of the blob as the firmware reports it in INFO (model hash)."""
        from quantize import blob as blob_format

        return int(blob_format.read_header(self.blob)["crc32"])


def host_model(spec: str, plan: str | Path | None = None) -> HostModel:
    """The model `spec` names (a reference model or an int8 .tflite) with the training plan `plan`
    names (a path, or the name of one of the model's plans; quantize.training_plan.resolve_plan)."""
    from host_tools.model_source import resolve_model
    from quantize.training_plan import resolve_plan

    source = resolve_model(spec)
    return HostModel(source.name, source.tflite, source.origin, resolve_plan(plan, source.name) if plan else None)


@contextlib.contextmanager
def open_device(args, *, quiet: bool = False) -> Iterator[Session]:
    """A Session on the device the command's arguments name; the emulator (if any) stops on exit."""
    tracer = Tracer(bool(getattr(args, "trace", False)))
    if getattr(args, "port", None):
        with Session.open(args.port, trace=tracer) as session:
            yield session
        return
    board = getattr(args, "board", None) or DEFAULT_BOARD
    elf = emulated_firmware(board, getattr(args, "model", DEFAULT_MODEL) or DEFAULT_MODEL, getattr(args, "plan", None),
                            quiet=quiet)
    from host_tools.banner import read_banner
    from host_tools.emulator import Emulator

    with Emulator(board, elf) as emulator:
        if not quiet:
            status(f"{board}: QEMU {emulator.target.qemu_machine}, serial port {emulator.url}")
        link = emulator.connect(timeout=READ_SLICE_S)
        # The emulated STM32 USART drops what arrives before the firmware enables it: wait for the
        # boot banner, sent after board::init, before the first request (else it costs a retry).
        read_banner(link)
        session = Session(link, trace=tracer, url=emulator.url)
        try:
            yield session
        finally:
            session.close()


def emulated_firmware(board: str, model_spec: str, plan: str | Path | None = None, *, quiet: bool = False) -> Path:
    """The firmware image for `board` with `model_spec` linked in, built when missing or stale
    (PlatformIO rebuilds only what changed)."""
    from host_tools.firmware_build import build_with_model

    model = host_model(model_spec, plan)
    if not quiet:
        status(f"building firmware for {board} with model {model.name} ...")
    try:
        result = build_with_model(board, model.tflite, model.name, model.origin, plan=model.plan)
    except McutrainError:
        raise
    return result.elf
