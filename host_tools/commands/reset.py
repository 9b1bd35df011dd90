"""`mcutrain reset`: restore the device's trainable parameters to the flashed (pretrained) state."""

from __future__ import annotations

import json

from host_tools.protocol.device import add_device_arguments, open_device


def register(subparsers) -> None:
    parser = subparsers.add_parser("reset", help="restore the device's parameters to the flashed pretrained state")
    add_device_arguments(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    with open_device(args, quiet=args.json) as device:
        size, crc = device.reset_params()
    if args.json:
        print(json.dumps({"trainable_bytes": size, "crc32": f"0x{crc:08x}"}))
    else:
        print(f"parameters reset to the flashed state: {size} bytes, CRC-32 0x{crc:08x}")
    return 0
