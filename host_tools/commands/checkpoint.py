"""`mcutrain checkpoint save FILE` / `load FILE`: the device's trainable parameters to and from a file.

The file: magic b"MCTCKPT1", model name (16 bytes, NUL-padded), model hash u32, size u32,
CRC-32 u32 (little-endian), then the parameter bytes. `load` refuses a file made for another
model, and the device applies it only once every chunk has arrived and the whole matches its CRC.
"""

from __future__ import annotations

import contextlib

import json
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from host_tools.errors import McutrainError
from host_tools.protocol.device import add_device_arguments, add_progress_argument, open_device

MAGIC = b"MCTCKPT1"
HEADER = struct.Struct("<8s16sIII")


@dataclass
class Checkpoint:
    model_name: str
    model_hash: int
    data: bytes

    def to_bytes(self) -> bytes:
        name = self.model_name.encode()[:16]
        return HEADER.pack(MAGIC, name, self.model_hash, len(self.data), zlib.crc32(self.data)) + self.data

    @classmethod
    def from_file(cls, path: Path) -> "Checkpoint":
        if not path.is_file():
            raise McutrainError(f"checkpoint {path} does not exist")
        raw = path.read_bytes()
        if len(raw) < HEADER.size or raw[:8] != MAGIC:
            raise McutrainError(f"{path} is not an mcutrain checkpoint (no {MAGIC.decode()} header)")
        _, name, model_hash, size, crc = HEADER.unpack_from(raw)
        data = raw[HEADER.size :]
        if len(data) != size or zlib.crc32(data) != crc:
            raise McutrainError(f"{path} is damaged: {len(data)} of {size} bytes, CRC "
                                f"0x{zlib.crc32(data):08x} != 0x{crc:08x}")
        return cls(name.rstrip(b"\0").decode(errors="replace"), model_hash, data)


def register(subparsers) -> None:
    parser = subparsers.add_parser("checkpoint", help="save or load the device's trainable parameters")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for action, text in (("save", "read the parameters from the device into FILE"),
                         ("load", "write the parameters in FILE to the device")):
        sub = actions.add_parser(action, help=text)
        sub.add_argument("file", type=Path, metavar="FILE")
        add_device_arguments(sub)
        add_progress_argument(sub)
        sub.set_defaults(func=run)


def save_checkpoint(device, info, path: Path, no_progress: bool = True) -> Checkpoint:
    """Reads the device's trainable parameters into `path` (written whole, or not at all)."""
    with _byte_progress(info, "save", no_progress) as progress:
        checkpoint = Checkpoint(info.model_name, info.model_hash, device.checkpoint_read(progress))
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(checkpoint.to_bytes())
    partial.replace(path)
    return checkpoint


def load_checkpoint(device, info, path: Path, no_progress: bool = True) -> Checkpoint:
    """Writes the parameters in `path` to the device; refuses a file made for another model."""
    checkpoint = Checkpoint.from_file(path)
    if checkpoint.model_hash != info.model_hash or len(checkpoint.data) != info.trainable_bytes:
        raise McutrainError(
            f"{path} holds {len(checkpoint.data)} bytes for model {checkpoint.model_name} "
            f"(hash 0x{checkpoint.model_hash:08x}); the device runs {info.model_name} "
            f"(hash 0x{info.model_hash:08x}, {info.trainable_bytes} trainable bytes)")
    with _byte_progress(info, "load", no_progress) as progress:
        device.checkpoint_write(checkpoint.data, progress)
    return checkpoint


@contextlib.contextmanager
def _byte_progress(info, action: str, no_progress: bool):
    with tqdm(total=info.trainable_bytes, unit="B", desc=action, disable=no_progress, leave=False) as bar:
        yield lambda done, total: bar.update(done - bar.n)


def run(args) -> int:
    with open_device(args, quiet=args.json) as device:
        info = device.info()
        if not info.has_model:
            raise McutrainError(f"the device has no model ({info.model_reason}): nothing to checkpoint")
        action = save_checkpoint if args.action == "save" else load_checkpoint
        checkpoint = action(device, info, args.file, args.no_progress)
    result = {"action": args.action, "file": str(args.file), "model": checkpoint.model_name,
              "model_hash": f"0x{checkpoint.model_hash:08x}", "bytes": len(checkpoint.data),
              "crc32": f"0x{zlib.crc32(checkpoint.data):08x}"}
    if args.json:
        print(json.dumps(result))
    else:
        verb = "saved to" if args.action == "save" else "loaded from"
        print(f"{result['bytes']} parameter bytes of {result['model']} {verb} {args.file} (CRC-32 {result['crc32']})")
    return 0
