"""The firmware's forward pass is bit-exact with the TFLite Micro reference interpreter.

Every model of the generated suite (tests/model_zoo.py) plus the reference models is converted
with the real TFLite converter, lowered to a blob, and run on random int8 inputs by TFLM and by
the firmware: in the native build (all models in one `pio test` run) and on qemu-m7 (each blob
side-loaded into the model-runner image). Outputs must be equal byte for byte. Models with
inverted-residual blocks are also checked row-streamed (fused blocks, fused_block.h), which must
not change a single output byte.
"""

from __future__ import annotations


import re

import numpy as np
import pytest

from host_tools.model_runner import ModelRunner, runner_flags
from quantize.golden import run_output
from quantize.interpreters import reference_outputs
from quantize.lower import STEP_SRAM_BUDGET, lower_tflite, step_sram, streaming_units
from quantize.models import load_reference_model
from quantize.tflite_model import parse_tflite
from tests import model_zoo
from tests.native_runs import run_native_cases

INPUTS_PER_MODEL = 4
QEMU_ARENA_LIMIT = 160 * 1024  # the runner image's side-load arena (MCUTRAIN_SIDELOAD_ARENA_BYTES)
ZOO = model_zoo.zoo()
REFERENCE = ("ref", "mbv2-w0.35-128")
# Checked a second time with every inverted-residual block row-streamed (stream="all").
STREAMED = ("net00_mini_mbv2_16", "net01_mini_mbv2_13x11x3", "add00_residual", "add01_residual_relu", "ref",
            "net03_stem_chain_23x13x3")
# Of those, the ones whose stem runs as a row chain (quantize/row_chain.py), not blocks only.
CHAINED = ("net03_stem_chain_23x13x3",)


class Case:
    def __init__(self, name: str, tflite: bytes, seed: int, stream: str = "auto"):
        from tflite_micro.python.tflite_micro import runtime

        self.name = name
        self.tflite = tflite
        self.lowered = lower_tflite(tflite, name[:16], stream=stream)
        shape = runtime.Interpreter.from_bytes(tflite).get_input_details(0)["shape"]
        rng = np.random.default_rng(seed)
        self.inputs = rng.integers(-128, 128, (INPUTS_PER_MODEL, *shape[1:]), dtype=np.int8)
        # TFLite Micro's outputs (for a dynamic batch's dilated convolution, which TFLite Micro cannot run
        # as written, of the flatbuffer with the triple folded: quantize/interpreters.py).
        self.expected = reference_outputs(tflite, self.inputs)


@pytest.fixture(scope="session")
def cases() -> dict[str, Case]:
    built = {m.name: Case(m.name, model_zoo.convert(m), i) for i, m in enumerate(ZOO)}
    for name in REFERENCE:
        built[name] = Case(name, load_reference_model(name).tflite_bytes(), 99)
    for name in STREAMED:
        built[f"{name}-streamed"] = Case(f"{name}-streamed", built[name].tflite, 7, stream="all")
    return built


@pytest.fixture(scope="session")
def native_results(cases, tmp_path_factory) -> dict[str, str]:
    """Runs every case in one native `pio test`; returns name -> "PASSED" or the failure line."""
    folder = tmp_path_factory.mktemp("fidelity")
    lines = []
    for name, case in cases.items():
        (folder / f"{name}.blob").write_bytes(case.lowered.blob)
        case.inputs.tofile(folder / f"{name}.in")
        case.expected.tofile(folder / f"{name}.out")
        lines.append(f"{name} {name}.blob {name}.in {name}.out {INPUTS_PER_MODEL}")
    (folder / "cases.txt").write_text("\n".join(lines) + "\n")
    results = run_native_cases("test_model_fidelity", "MCUTRAIN_FIDELITY_DIR", folder)
    return results


def test_suite_has_at_least_50_models_covering_every_op():
    assert len(ZOO) >= 50
    covered = {op for model in ZOO for op in model.covers}
    assert covered >= {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "AVERAGE_POOL_2D",
                       "MAX_POOL_2D", "MEAN", "RESHAPE", "PAD", "SOFTMAX"}


def test_suite_models_lower_to_the_ops_they_claim(cases):
    for model in ZOO:
        ops = set(cases[model.name].lowered.op_names)
        assert set(model.covers) <= ops, f"{model.name}: lowered to {sorted(ops)}"
    for name in STREAMED:
        fused = "ROW_CHAIN" if name in CHAINED else "INVERTED_RESIDUAL"
        assert fused in cases[f"{name}-streamed"].lowered.op_names, name


def test_mbv2_training_step_plans_at_most_128_kb_of_sram(cases):
    lowered = cases["mbv2-w0.35-128"].lowered
    assert step_sram(lowered) <= STEP_SRAM_BUDGET == 128 * 1024
    # The stem runs as a row chain into the first blocks (the input and the stem's output were the peak).
    assert lowered.op_names[0] == "ROW_CHAIN"
    assert "ROW_CHAIN" not in cases["ref"].lowered.op_names  # small models stay unfused
    assert "INVERTED_RESIDUAL" not in cases["ref"].lowered.op_names
    # Only the leading units the budget needs are streamed; the rest run faster on whole tensors.
    units = len(streaming_units(parse_tflite(cases["mbv2-w0.35-128"].tflite)))
    fused = lowered.op_names.count("INVERTED_RESIDUAL") + lowered.op_names.count("ROW_CHAIN")
    assert 0 < fused < units
    assert step_sram(lower_tflite(cases["mbv2-w0.35-128"].tflite, "mbv2", stream="none")) > 128 * 1024


@pytest.mark.slow
@pytest.mark.parametrize("name", [m.name for m in ZOO] + list(REFERENCE) + [f"{n}-streamed" for n in STREAMED])
def test_native_forward_is_bit_exact_with_tflm(native_results, name):
    assert native_results.get(name) == "PASSED", native_results.get(name, "no result")


@pytest.fixture(scope="session")
def runner_image(firmware):
    return firmware.get("qemu-m7", *runner_flags("qemu-m7")).elf


@pytest.mark.slow
@pytest.mark.emulator
@pytest.mark.parametrize("name", [m.name for m in ZOO] + list(REFERENCE) + [f"{n}-streamed" for n in STREAMED])
def test_qemu_m7_forward_is_bit_exact_with_tflm(cases, runner_image, name):
    case = cases[name]
    assert case.lowered.plan.arena_size <= QEMU_ARENA_LIMIT
    with ModelRunner("qemu-m7", runner_image, case.lowered.blob) as runner:
        for i, x in enumerate(case.inputs):
            got = runner.invoke(x).output
            want = case.expected[i].ravel()
            mismatch = np.flatnonzero(got != want)
            assert mismatch.size == 0, (
                f"{name}, input {i}: first mismatch at output index {mismatch[0]}: "
                f"device {got[mismatch[0]]}, TFLM {want[mismatch[0]]}")


@pytest.mark.parametrize("name", [m.name for m in ZOO] + list(REFERENCE))
def test_golden_reference_is_bit_exact_with_tflm(cases, name):
    case = cases[name]
    graph = parse_tflite(case.tflite)
    for x, expected in zip(case.inputs, case.expected):
        np.testing.assert_array_equal(run_output(graph, x).reshape(expected.shape), expected)


# The dilated convolutions converted with a dynamic batch (kernel, multiplier, dilation in the name).
BLOCK_OP_MODELS = [m.name for m in ZOO if not m.fixed_batch and re.search(r"_k\d+(m\d+)?d\d", m.name)]


@pytest.mark.parametrize("name", BLOCK_OP_MODELS)
def test_the_folded_dilated_convolution_is_what_tflite_computes_for_the_block_ops(cases, name):
    """The oracle runs a dynamic batch's SPACE_TO_BATCH_ND -> convolution -> BATCH_TO_SPACE_ND folded
    into one dilated convolution (tflite_model.fold_dilations): TFLite's own interpreter, which runs
    the triple as written, gives the same outputs."""
    from quantize.dilated_fold import BLOCK_OPS
    from quantize.interpreters import tflite_reference_outputs
    from quantize.tflite_model import operator_names

    case = cases[name]
    assert set(BLOCK_OPS) <= set(operator_names(case.tflite))
    assert np.array_equal(tflite_reference_outputs(case.tflite, case.inputs), case.expected)
