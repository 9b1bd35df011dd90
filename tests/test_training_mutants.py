"""The gradient-filtering fidelity cases catch a broken kernel: each mutant below is one plausible
mistake in one of firmware/lib/train/backward_filter.cpp's kernels, built into a copy of the
firmware and run natively over the gradient-filtering cases of tests/training_runs.py; at least one
of them must then differ from the golden reference (a fidelity test that a wrong kernel passes
would prove nothing)."""

from __future__ import annotations

import shutil

import pytest

from host_tools import project
from tests.native_runs import run_native_cases
from tests.training_runs import runs, write_cases  # noqa: F401  (runs: a fixture)

pytestmark = pytest.mark.slow
SOURCE = "firmware/lib/train/backward_filter.cpp"
# name -> (the exact text in SOURCE, what the mutant has instead)
MUTANTS = {
    "patch_means truncates": ("* reciprocal + (1 << 15)) >> 16", "* reciprocal) >> 16"),
    "filtered input error takes every patch as full": (
        "PatchGrid::reciprocal(grid.rows(pi) * grid.cols(pj));\n}", "PatchGrid::reciprocal(grid.r * grid.r);\n}"),
    "filter_error rounds toward zero": ("= normalised(patch_sum(grid, e, out.c, n, pi, pj, c), shift);",
                                        "= normalised(patch_sum(grid, e, out.c, n, pi, pj, c) / 2, shift - 1);"),
    "filtered conv input error sums one tap": ("for (int32_t t = 0; t < taps; ++t) {\n        const int8_t* w",
                                               "for (int32_t t = 0; t < 1; ++t) {\n        const int8_t* w"),
    "filtered depthwise input error drops a tap": ("for (int32_t t = 0; t < taps; ++t) kernel_sum +=",
                                                   "for (int32_t t = 1; t < taps; ++t) kernel_sum +="),
    "patch weight gradient reads the next patch's mean": (
        "* (means[((n * grid.ph + pi) * grid.pw + pj) * c_in + o] - x_zero_point);",
        "* (means[((n * grid.ph + pi) * grid.pw + pj) * c_in + o + (pj + 1 < grid.pw ? c_in : 0)] - x_zero_point);"),
    "unfiltered patch sums read one row": ("for (int32_t y = 0; y < rows; ++y) {", "for (int32_t y = 0; y < 1; ++y) {"),
}
CASES = ("t36_gf2_pointwise_odd", "t37_gf4_k3_edges", "t38_gf2_dw_between", "t39_gf4_dw_first_bias_only", "ref-gf2",
         "ref-gf2-off")


@pytest.fixture(scope="module")
def case_folder(runs, tmp_path_factory):
    folder = tmp_path_factory.mktemp("gf-cases")
    write_cases({name: runs[name] for name in CASES}, folder)
    return folder


def _differs(run, results: bytes) -> bool:
    try:
        run.compare(results)
    except AssertionError:
        return True
    return False


@pytest.mark.parametrize("mutant", list(MUTANTS))
def test_a_broken_gradient_filter_kernel_fails_fidelity(runs, case_folder, tmp_path, mutant):
    original, broken = MUTANTS[mutant]
    root = tmp_path / "project"
    root.mkdir()
    shutil.copytree(project.ROOT / "firmware", root / "firmware", symlinks=True)
    for name in ("platformio.ini", "pyproject.toml"):  # pyproject.toml: the firmware version
        shutil.copy(project.ROOT / name, root / name)
    source = root / SOURCE
    text = source.read_text()
    assert text.count(original) == 1, f"{mutant}: the mutated text is not once in {SOURCE}"
    source.write_text(text.replace(original, broken))
    for result in case_folder.glob("*.results"):
        result.unlink()
    verdicts = run_native_cases("test_training_fidelity", "MCUTRAIN_TRAINING_DIR", case_folder, root)
    caught = [name for name, verdict in verdicts.items()
              if verdict != "PASSED" or _differs(runs[name], (case_folder / f"{name}.results").read_bytes())]
    assert caught, f"{mutant}: every gradient-filtering case still agrees with the golden reference"
