"""mcutrain host tools: the `mcutrain` CLI, emulator runner, device sessions and benchmarks."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mcutrain")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"
