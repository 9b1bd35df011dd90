"""Checks that every tool and package mcutrain needs is present, and says how to fix what is not."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from host_tools import pio_bootstrap, project

APT_INSTALL = "sudo apt-get install -y"
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
QEMU_MACHINES = ("mps2-an500", "netduinoplus2")
# Python modules the host tools import, by import name.
PYTHON_MODULES = ("numpy", "serial", "matplotlib", "tqdm", "PIL", "sklearn", "mlxtend", "tensorflow", "tflite_micro", "platformio", "SCons")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str  # what was found, or what is missing
    fix: str     # the command that fixes it ("" when ok)


def _which(tool: str, package: str) -> Check:
    path = shutil.which(tool)
    if path:
        return Check(tool, True, path, "")
    return Check(tool, False, f"{tool} is not on PATH", f"{APT_INSTALL} {package}")


def _arm_library(library: str, package: str) -> Check:
    """Asks the cross compiler where a target library is; it echoes the bare name when it has none."""
    name = f"arm-none-eabi {library}"
    if not shutil.which("arm-none-eabi-gcc"):
        return Check(name, False, "needs arm-none-eabi-gcc first", f"{APT_INSTALL} {package}")
    found = subprocess.run(
        ["arm-none-eabi-gcc", "-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16",
         f"-print-file-name={library}"], capture_output=True, text=True,
    ).stdout.strip()
    if found and Path(found).is_absolute() and Path(found).exists():
        return Check(name, True, found, "")
    return Check(name, False, f"{library} for Cortex-M is missing", f"{APT_INSTALL} {package}")


def _qemu_machines() -> Check:
    name = "qemu machines"
    if not shutil.which("qemu-system-arm"):
        return Check(name, False, "needs qemu-system-arm first", f"{APT_INSTALL} qemu-system-arm")
    listing = subprocess.run(["qemu-system-arm", "-machine", "help"], capture_output=True, text=True).stdout
    missing = [m for m in QEMU_MACHINES if m not in listing]
    if missing:
        return Check(name, False, f"QEMU lacks machine(s) {', '.join(missing)}", f"{APT_INSTALL} qemu-system-arm")
    return Check(name, True, ", ".join(QEMU_MACHINES), "")


def _python_module(module: str) -> Check:
    if importlib.util.find_spec(module) is not None:
        return Check(f"python: {module}", True, "importable", "")
    return Check(f"python: {module}", False, f"Python module {module} is not installed", "make setup")


def _platformio_core() -> Check:
    name = "platformio core"
    if not pio_bootstrap.is_seeded(project.PIO_CORE_DIR):
        return Check(name, False, f"tool-scons is not seeded in {project.PIO_CORE_DIR}", "make setup")
    return Check(name, True, str(project.PIO_CORE_DIR), "")


def _fashion_mnist() -> Check:
    files = [FASHION_MNIST_DIR / f"{split}-{kind}-ubyte.gz" for split in ("train", "t10k") for kind in ("images-idx3", "labels-idx1")]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        return Check("fashion-mnist data", False, f"missing {', '.join(missing)} in {FASHION_MNIST_DIR}", f"{APT_INSTALL} dataset-fashion-mnist")
    return Check("fashion-mnist data", True, str(FASHION_MNIST_DIR), "")


def run_checks() -> list[Check]:
    checks = [
        _which("arm-none-eabi-gcc", "gcc-arm-none-eabi"),
        _which("arm-none-eabi-g++", "gcc-arm-none-eabi"),
        _arm_library("libc_nano.a", "libnewlib-arm-none-eabi"),
        _arm_library("libstdc++_nano.a", "libstdc++-arm-none-eabi-newlib"),
        _which("qemu-system-arm", "qemu-system-arm"),
        _qemu_machines(),
        _which("gcc", "gcc"),
        _which("g++", "g++"),
        _platformio_core(),
        _fashion_mnist(),
    ]
    checks += [_python_module(m) for m in PYTHON_MODULES]
    return checks
