"""`mcutrain doctor`: is everything installed? Exit 0 only when it is."""

from __future__ import annotations

import json

from host_tools.doctor import run_checks


def register(subparsers) -> None:
    parser = subparsers.add_parser("doctor", help="check the toolchain, QEMU, PlatformIO and Python dependencies")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=run)


def run(args) -> int:
    checks = run_checks()
    missing = [c for c in checks if not c.ok]
    if args.json:
        print(json.dumps([c.__dict__ for c in checks], indent=2))
    else:
        for check in checks:
            mark = "ok " if check.ok else "MISSING"
            line = f"[{mark:7}] {check.name}: {check.detail}"
            if not check.ok:
                line += f"\n          fix: {check.fix}"
            print(line)
        print(f"{len(checks) - len(missing)} of {len(checks)} checks passed" + ("" if not missing else "; run the fix commands above"))
    return 0 if not missing else 1
