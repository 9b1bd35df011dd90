"""Errors the CLI turns into a one-line message and an exit code (see host_tools.cli.main)."""


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
