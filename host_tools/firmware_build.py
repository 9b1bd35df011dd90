"""Building the firmware with PlatformIO, and reading what the build reports."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from host_tools import project
from host_tools.errors import BuildError
from host_tools.targets import get_target

# PlatformIO's size report: "RAM:   [=    ]   6.3% (used 16392 bytes from 262144 bytes)".
_USAGE_RE = re.compile(r"^(RAM|Flash):\s+\[.*\]\s+[\d.]+% \(used (\d+) bytes from (\d+) bytes\)", re.M)
# GNU ld when the SRAM budget is exceeded: "region `RAM' overflowed by 299016 bytes".
_OVERFLOW_RE = re.compile(r"region `(\w+)' overflowed by (\d+) bytes")


@dataclass
class BuildResult:
    target: str
    elf: Path
    ram_used: int
    ram_total: int
    flash_used: int
    flash_total: int
    log: str

    def usage_line(self) -> str:
        return (
            f"{self.target}: RAM {self.ram_used} / {self.ram_total} bytes, "
            f"flash {self.flash_used} / {self.flash_total} bytes"
        )


def build(
    target_name: str,
    *,
    extra_flags: list[str] | None = None,
    build_dir: Path | None = None,
    model_dir: Path | None = None,
    verbose: bool = False,
) -> BuildResult:
    """Builds one environment; raises BuildError with the linker's own words on failure.

    extra_flags: additional compiler flags (e.g. ["-DMCUTRAIN_SELFTEST_HARDFAULT"]); builds with
        extra flags should use their own build_dir so they never mix objects with the normal build.
    model_dir: a folder written by `mcutrain compile`; its generated source (blob and arena) is
        linked in. Builds with a model default to a build folder of their own under .pio/models/.
    """
    target = get_target(target_name)
    env = project.pio_environment()
    if extra_flags:
        env["PLATFORMIO_BUILD_FLAGS"] = " ".join(extra_flags)
    if model_dir is not None:
        env["MCUTRAIN_MODEL_DIR"] = str(Path(model_dir).resolve())
        if build_dir is None:
            build_dir = project.ROOT / ".pio" / "models" / Path(model_dir).resolve().name
    if build_dir is not None:
        env["PLATFORMIO_BUILD_DIR"] = str(build_dir)
    cmd = [project.pio_executable(), "run", "-d", str(project.ROOT), "-e", target.name]
    proc = subprocess.run(cmd, env=env, cwd=project.ROOT, capture_output=True, text=True)
    log = proc.stdout + proc.stderr
    if verbose:
        print(log)
    if proc.returncode != 0:
        raise BuildError(f"building {target.name} failed: {_failure_reason(log)}")
    # The host build is an executable without the .elf suffix the Cortex-M builder gives.
    image = "firmware" if target.name == "native" else "firmware.elf"
    elf = (build_dir or project.BUILD_DIR) / target.name / image
    usage = {kind: (int(used), int(total)) for kind, used, total in _USAGE_RE.findall(log)}
    ram, flash = usage.get("RAM", (0, 0)), usage.get("Flash", (0, 0))
    return BuildResult(target.name, elf, ram[0], ram[1], flash[0], flash[1], log)


def _failure_reason(log: str) -> str:
    overflow = _OVERFLOW_RE.search(log)
    if overflow:
        region, excess = overflow.groups()
        return f"static memory exceeds the {region} region (SRAM budget) by {excess} bytes"
    errors = [line.strip() for line in log.splitlines() if "error" in line.lower() and "Error 1" not in line]
    return errors[0] if errors else log.strip().splitlines()[-1] if log.strip() else "no output"


def build_with_model(target_name: str, tflite: bytes, name: str, origin: str = "", verbose: bool = False,
                     plan=None) -> BuildResult:
    """Compiles the model into .pio/models/<name>-<crc>/ (once per distinct generated source) and
    builds the firmware with its blob linked into flash and its arena in .bss.

    The folder is keyed by the generated C++ source (which holds the blob), not by the .tflite:
    a change of the compiler, of the blob format or of the training plan (quantize.training_plan,
    None for the default) must never link a stale blob."""
    import zlib

    from quantize.codegen import blob_to_cpp
    from quantize.compile import write_compiled
    from quantize.importer import check_int8_tflite
    from quantize.lower import lower_graph
    from quantize.memory_model import FIRMWARE_MEMORY, check_fits

    lowered = lower_graph(check_int8_tflite(tflite, origin or name), name, plan=plan)
    target = get_target(target_name)
    if target_name in FIRMWARE_MEMORY:
        check_fits(target_name, target.ram_budget_bytes, lowered, plan.source if plan else f"model {name}")
    source = blob_to_cpp(lowered.blob, origin or name)
    model_dir = project.ROOT / ".pio" / "models" / f"{name}-{zlib.crc32(source.encode()):08x}"
    if not (model_dir / "model_blob.cpp").is_file():
        write_compiled(lowered, model_dir, origin or name)
    return build(target_name, model_dir=model_dir, build_dir=model_dir / "build", verbose=verbose)
