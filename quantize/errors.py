"""Errors of the quantize package: expected failures with a one-line message that names the file,
operator, layer or tensor at fault.

They live here, at the bottom, so that quantize/ depends on nothing above it; the CLI
(host_tools/errors.py) is the one place that turns them into a message and an exit code.
"""


class QuantizeError(ValueError):
    """Base class of every expected failure in quantize/."""


class UnsupportedModelError(QuantizeError):
    """The model uses an op, option or tensor type the firmware does not implement."""


class ModelImportError(QuantizeError):
    """A model file cannot be read or is not what was expected."""


class PlanError(QuantizeError):
    """A training plan (--plan) is malformed or does not fit the model."""


class ReferenceModelError(QuantizeError):
    """A reference model is unknown, or its committed artifacts (manifest, float model) are missing."""


class FinetuneError(QuantizeError):
    """A fine-tuning request (--update, its plan file, --epochs) is malformed or does not fit the model."""
