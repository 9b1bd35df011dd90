"""The one place that maps expected failures to a one-line message and an exit code (used by
host_tools.cli.main).

host_tools raises McutrainError and its subclasses. The packages below the CLI (quantize/,
mcutrain_datasets) raise their own errors, defined at their bottom so that they never import
host_tools; LOWER_LAYER_EXIT_CODES gives each of them its exit code here.
"""

from __future__ import annotations

from mcutrain_datasets.errors import DatasetError
from quantize.errors import QuantizeError


class McutrainError(Exception):
    """An expected failure: bad input, a missing tool, a device that does not answer.

    The message is shown to the user as one line, without a traceback, so it must name the file,
    field, layer or tool at fault and what was expected.
    """

    exit_code = 1


class SetupError(McutrainError):
    """A tool or package the command needs is missing (`mcutrain doctor` lists them all)."""

    exit_code = 3


class BuildError(McutrainError):
    """A firmware build (PlatformIO) failed."""

    exit_code = 4


class EmulatorError(McutrainError):
    """QEMU could not be started, or the firmware in it did not behave."""

    exit_code = 5


# Bad input found by quantize/ (a model, a plan, a fine-tuning request) or by the dataset loaders.
LOWER_LAYER_EXIT_CODES: dict[type[Exception], int] = {QuantizeError: McutrainError.exit_code,
                                                      DatasetError: McutrainError.exit_code}
EXPECTED_ERRORS: tuple[type[Exception], ...] = (McutrainError, *LOWER_LAYER_EXIT_CODES)


def exit_code(err: Exception) -> int:
    """The exit code of an expected failure (an instance of one of EXPECTED_ERRORS)."""
    if isinstance(err, McutrainError):
        return err.exit_code
    return next(code for kind, code in LOWER_LAYER_EXIT_CODES.items() if isinstance(err, kind))


def error_message(err: Exception) -> str:
    """The one line an expected failure is shown as."""
    return f"mcutrain: error: {err}"
