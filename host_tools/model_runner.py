"""Drives the raw model-runner test image (firmware/src/app/model_runner.h) on QEMU.

The image is built once per board with MCUTRAIN_SELFTEST_MODEL_RUNNER; each model blob is
side-loaded into code memory by QEMU's generic loader, so checking fifty models needs one build.
Used by the forward fidelity tests and `mcutrain bench forward`.
"""

from __future__ import annotations

import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from host_tools.banner import parse_banner
from host_tools.emulator import Emulator
from host_tools.errors import EmulatorError
from host_tools.firmware_build import BuildResult, build

# Where test images look for a side-loaded blob (firmware/ld/qemu_mps2_an500.ld reserves it).
SIDELOAD_ADDRESS = {"qemu-m7": 0x00200000}
RUNNER_FLAGS = ["-DMCUTRAIN_SELFTEST_MODEL_RUNNER"]
# Seconds to wait for one forward pass (mbv2-w0.35-128 takes a few seconds under QEMU).
INVOKE_TIMEOUT_S = 120.0


def runner_flags(board: str) -> list[str]:
    if board not in SIDELOAD_ADDRESS:
        raise EmulatorError(f"the model runner side-loads blobs only on {', '.join(SIDELOAD_ADDRESS)}, not {board}")
    return RUNNER_FLAGS + [f"-DMCUTRAIN_SIDELOAD_BLOB_ADDRESS=0x{SIDELOAD_ADDRESS[board]:08x}"]


def build_runner(board: str, build_dir: Path) -> BuildResult:
    return build(board, extra_flags=runner_flags(board), build_dir=build_dir)


@dataclass
class Invocation:
    output: np.ndarray     # int8 output tensor
    op_ticks: list[int]    # board::counter ticks per op


@dataclass
class TrainingTicks:
    """One training step of the runner image (firmware/src/app/model_runner.h 'T')."""

    loss_q16: int
    predicted: int
    correct: bool
    forward: int           # ticks of the forward pass (with its masks)
    loss: int              # ticks of the softmax, loss and logits' error
    backward: list[int]    # per backward step (the training section's order): the error pass
    update: list[int]      # per backward step: bias and weight updates

TRAIN_HEAD = struct.Struct("<iBBH")


class ModelRunner:
    """One emulator running one blob; invoke() any number of inputs."""

    def __init__(self, board: str, runner_elf: Path, blob: bytes):
        self._blob_file = tempfile.NamedTemporaryFile(suffix=".blob")
        self._blob_file.write(blob)
        self._blob_file.flush()
        loader = f"loader,file={self._blob_file.name},addr=0x{SIDELOAD_ADDRESS[board]:08x},force-raw=on"
        self.emulator = Emulator(board, runner_elf, extra_args=["-device", loader])
        self.info: dict[str, str] = {}
        self.counter_hz = 0  # from the boot banner

    def __enter__(self) -> "ModelRunner":
        self.emulator.start()
        try:
            self._read_model_line()
        except BaseException:
            # __exit__ does not run when __enter__ raises: stop QEMU here.
            self.__exit__()
            raise
        return self

    def _read_model_line(self) -> None:
        link = self.emulator.connect(timeout=INVOKE_TIMEOUT_S)
        for _ in range(4):  # banner, then the model line
            raw = link.readline()
            if not raw:  # nothing within the timeout: a hung boot is not waited for four times over
                raise EmulatorError(f"no output from the runner image within {INVOKE_TIMEOUT_S:.0f} s: "
                                    f"{self.emulator.stderr_text()}")
            line = raw.decode(errors="replace").strip()
            if line.startswith("mcutrain "):
                self.counter_hz = int(parse_banner(line)["counter_hz"])
            if line.startswith("model refused"):
                raise EmulatorError(f"the firmware refused the model blob: {line}")
            if line.startswith("model ok"):
                self.info = dict(item.split("=", 1) for item in line.split()[2:])
                return
        raise EmulatorError(f"no model line from the runner image: {self.emulator.stderr_text()}")

    def __exit__(self, *exc) -> None:
        self.emulator.stop()
        self._blob_file.close()

    @property
    def num_ops(self) -> int:
        return int(self.info["ops"])

    def invoke(self, x: np.ndarray) -> Invocation:
        data = np.ascontiguousarray(x, dtype=np.int8).tobytes()
        if len(data) != int(self.info["input"]):
            raise ValueError(f"input has {len(data)} bytes, the model takes {self.info['input']}")
        link = self.emulator.connect()
        link.write(b"I" + data)
        want = int(self.info["output"]) + 8 * self.num_ops
        reply = link.read(want)
        if len(reply) != want:
            raise EmulatorError(f"runner answered {len(reply)} of {want} bytes: {self.emulator.stderr_text()}")
        out_bytes = int(self.info["output"])
        ticks = list(struct.unpack(f"<{self.num_ops}Q", reply[out_bytes:]))
        return Invocation(np.frombuffer(reply[:out_bytes], dtype=np.int8).copy(), ticks)

    def train(self, x: np.ndarray, label: int) -> TrainingTicks:
        """One training step on the device with where its time went."""
        data = np.ascontiguousarray(x, dtype=np.int8).tobytes()
        if len(data) != int(self.info["input"]):
            raise ValueError(f"input has {len(data)} bytes, the model takes {self.info['input']}")
        link = self.emulator.connect()
        link.write(b"T" + bytes([label]) + data)
        head = link.read(TRAIN_HEAD.size + 16)
        if len(head) != TRAIN_HEAD.size + 16:
            raise EmulatorError(f"runner answered {len(head)} bytes to a training step: {self.emulator.stderr_text()}")
        loss, predicted, correct, steps = TRAIN_HEAD.unpack_from(head)
        forward, loss_ticks = struct.unpack_from("<2Q", head, TRAIN_HEAD.size)
        rest = link.read(16 * steps)
        if len(rest) != 16 * steps:
            raise EmulatorError(f"runner answered {len(rest)} of {16 * steps} step bytes: {self.emulator.stderr_text()}")
        ticks = struct.unpack(f"<{2 * steps}Q", rest)
        return TrainingTicks(loss, predicted, bool(correct), forward, loss_ticks, list(ticks[:steps]),
                             list(ticks[steps:]))

