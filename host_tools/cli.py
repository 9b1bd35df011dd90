"""The `mcutrain` command line: one module per subcommand; errors become a message and an exit code in main.

Each subcommand module exposes `register(subparsers)`, which adds its parser and sets
`func=run` on it; `run(args) -> int` does the work. To add a subcommand, add its module to
SUBCOMMAND_MODULES.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from host_tools import __version__
from host_tools.errors import EXPECTED_ERRORS, error_message, exit_code

# Imported lazily by name so that `mcutrain doctor` works even when heavy optional
# dependencies (TensorFlow) of other subcommands are broken or missing.
SUBCOMMAND_MODULES = [
    "host_tools.commands.doctor",
    "host_tools.commands.build",
    "host_tools.commands.emulate",
    "host_tools.commands.demo",
    "host_tools.commands.quantize",
    "host_tools.commands.compile",
    "host_tools.commands.plan",
    "host_tools.commands.baseline",
    "host_tools.commands.bench",
    "host_tools.commands.report",
    "host_tools.commands.info",
    "host_tools.commands.infer",
    "host_tools.commands.eval",
    "host_tools.commands.train",
    "host_tools.commands.checkpoint",
    "host_tools.commands.reset",
    "host_tools.commands.monitor",
    "host_tools.commands.plot",
    "host_tools.commands.fleet",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mcutrain",
        description="On-device learning on microcontrollers: quantize, plan, build, train on the device.",
    )
    parser.add_argument("--version", action="version", version=f"mcutrain {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except EXPECTED_ERRORS as err:
        print(error_message(err), file=sys.stderr)
        return exit_code(err)
    except KeyboardInterrupt:
        print("mcutrain: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
