"""The packages below the CLI stand on their own: quantize/ and datasets/ (mcutrain_datasets) never
import host_tools, and their errors reach the user through the CLI's one mapping (host_tools/errors.py)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from host_tools.errors import EXPECTED_ERRORS, McutrainError, error_message, exit_code
from mcutrain_datasets.errors import DatasetError
from quantize.errors import PlanError, QuantizeError

ROOT = Path(__file__).resolve().parent.parent
LOWER_PACKAGES = ("quantize", "datasets")
UPPER_PACKAGE = "host_tools"


def imported_modules(source: str) -> list[tuple[int, str]]:
    """(line, module) of every import in `source`, at any depth (function-level imports included)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def test_the_scan_sees_nested_and_from_imports():
    source = "import os\ndef f():\n    from host_tools.errors import McutrainError\n    import host_tools.cli\n"
    assert imported_modules(source) == [(1, "os"), (3, "host_tools.errors"), (4, "host_tools.cli")]


@pytest.mark.parametrize("package", LOWER_PACKAGES)
def test_lower_packages_do_not_import_host_tools(package):
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no Python files under {package}/"
    offending = [f"{path.relative_to(ROOT)}:{line} imports {module}"
                 for path in files for line, module in imported_modules(path.read_text())
                 if module == UPPER_PACKAGE or module.startswith(UPPER_PACKAGE + ".")]
    assert not offending, "\n".join(offending)


@pytest.mark.parametrize("error, code", [
    (PlanError("plan.json: not JSON"), 1),
    (DatasetError("x.npz: file not found"), 1),
    (McutrainError("board?"), 1),
])
def test_the_cli_maps_every_layers_errors(error, code):
    assert isinstance(error, EXPECTED_ERRORS)
    assert exit_code(error) == code
    assert error_message(error) == f"mcutrain: error: {error}"


def test_lower_layer_errors_are_not_cli_errors():
    assert not issubclass(QuantizeError, McutrainError) and not issubclass(DatasetError, McutrainError)
