"""Errors of the quantize package: expected failures with a one-line message that names the file,
operator or tensor at fault. The CLI (host_tools.cli) shows them without a traceback."""


class QuantizeError(ValueError):
    """Base class of every expected failure in quantize/."""


class UnsupportedModelError(QuantizeError):
    """The model uses an op, option or tensor type the firmware does not implement."""


class ModelImportError(QuantizeError):
    """A model file cannot be read or is not what was expected."""


class PlanError(QuantizeError):
    """A training plan (--plan) is malformed or does not fit the model."""
