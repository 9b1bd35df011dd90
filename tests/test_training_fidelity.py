"""The firmware's training step is bit-exact with the golden reference, step after step.

Every case of tests/training_zoo.py (generated models with training plans that together cover every
backward op and option), plus `ref` with its demo plan, is lowered with its plan and trained for
STEPS steps on seeded random int8 samples and labels: by the golden reference
(quantize/training/step.py) and by the firmware's trainer in the native build (all cases in one
`pio test` run). After every step the loss, the predicted class and the CRC-32 of the trainable
region must be equal, and at the end the region's bytes. The golden updates must also move the
parameters (a test that trains nothing would prove nothing).
"""

from __future__ import annotations

import numpy as np
import pytest

from quantize.training.program import ACCUMULATE, derive_program
from tests.native_runs import run_native_cases
from tests.training_runs import CASES, NAMES, STEPS, runs, write_cases  # noqa: F401  (runs: a fixture)


def native_training(runs: dict, folder, project_dir=None) -> dict[str, bytes | str]:
    """Runs the given cases in one native `pio test` (of project_dir's firmware, by default the
    project's); name -> the results file, or the failure line."""
    write_cases(runs, folder)
    verdicts = run_native_cases("test_training_fidelity", "MCUTRAIN_TRAINING_DIR", folder,
                                *([project_dir] if project_dir else []))
    return {name: (folder / f"{name}.results").read_bytes() if verdict == "PASSED" else verdict
            for name, verdict in verdicts.items()}


@pytest.fixture(scope="session")
def native_results(runs, tmp_path_factory) -> dict[str, bytes | str]:
    """Runs every case in one native `pio test`; name -> the results file, or the failure line."""
    return native_training(runs, tmp_path_factory.mktemp("training"))


def test_zoo_covers_every_backward_op_and_option(runs):
    from quantize.training.program import BACKWARD_OPS

    seen = set()
    for run in runs.values():
        program = derive_program(run.graph, run.plan)
        for step in program.steps:
            seen.add(step.kind)
            if step.kind == ACCUMULATE:
                continue
            op = run.graph.operators[step.op]
            o = op.options
            if step.kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
                prefix = "conv" if step.kind == "CONV_2D" else "dw"
                kernel = run.graph.tensor(op.inputs[1]).shape[1]
                seen |= {f"{prefix}-k{kernel}", f"{prefix}-stride{o.stride_h}", f"{prefix}-{o.padding}",
                         f"{prefix}-{o.activation}", f"{prefix}-dilated={(o.dilation_h, o.dilation_w) != (1, 1)}"}
                if step.kind == "DEPTHWISE_CONV_2D":
                    multiplier = run.graph.tensor(op.outputs[0]).shape[-1] // run.graph.tensor(op.inputs[0]).shape[-1]
                    seen.add(f"dw-multiplier={multiplier > 1}")
            if step.kind == "FULLY_CONNECTED":
                seen.add(f"fc-{op.options.activation}")
            if step.kind == "ADD":
                seen |= {f"add-{o.activation}", f"add-inputs{sum(s is not None for s in step.in_errors)}"}
            if step.kind == "AVERAGE_POOL_2D":
                clipped = o.padding == "SAME" and o.filter_h > 1
                seen.add("avgpool-clipped" if clipped else "avgpool-full")
            if step.kind in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
                seen.add(f"{step.kind}-stride{o.stride_h}")
            seen |= {f"weights={step.weights}", f"bias={step.bias}", f"input_error={step.input_error}"}
            if step.gradient_filter > 1:
                x = run.graph.tensor(op.inputs[0]).shape
                clipped = x[1] % step.gradient_filter or x[2] % step.gradient_filter
                seen |= {f"gf{step.gradient_filter}-{step.kind}", f"gf-weights={step.weights}",
                         f"gf-input_error={step.input_error}", f"gf-clipped={bool(clipped)}",
                         f"gf-filter={run.gradient_filter}"}
            if step.channels and len(step.channels) < run.graph.tensor(op.outputs[0]).shape[-1]:
                seen.add("channel subset")
    conv = {f"conv-{option}" for option in ("k1", "k3", "k5", "stride1", "stride2", "stride3", "stride4", "SAME",
                                            "VALID", "NONE", "RELU", "RELU6", "dilated=True", "dilated=False")}
    dw = {f"dw-{option}" for option in ("k3", "k5", "stride1", "stride2", "stride4", "SAME", "VALID", "NONE", "RELU",
                                        "RELU6", "dilated=True", "dilated=False", "multiplier=True", "multiplier=False")}
    pools = {f"{op}-stride{stride}" for op in ("AVERAGE_POOL_2D", "MAX_POOL_2D") for stride in (2, 3)}
    wanted = set(BACKWARD_OPS) | {ACCUMULATE} | conv | dw | pools | {
        "fc-NONE", "fc-RELU", "fc-RELU6", "add-NONE", "add-RELU", "add-inputs1", "add-inputs2", "avgpool-full",
        "avgpool-clipped", "weights=True", "weights=False", "bias=True", "bias=False", "input_error=True",
        "input_error=False", "channel subset", "gf2-CONV_2D", "gf4-CONV_2D", "gf2-DEPTHWISE_CONV_2D",
        "gf4-DEPTHWISE_CONV_2D", "gf-weights=True", "gf-weights=False", "gf-input_error=True",
        "gf-input_error=False", "gf-clipped=True", "gf-clipped=False", "gf-filter=True", "gf-filter=False"}
    assert wanted <= seen, f"not covered: {sorted(wanted - seen)}"
    assert len(CASES) >= 33


def _dsp_tails(graph, step) -> set[str]:
    """The tails of the DSP kernels a backward step reaches (firmware/lib/train: backward_s8.cpp's
    pointwise kernels pack pairs of rows over groups of four; backward_depthwise.cpp sums channel quads)."""
    op = graph.operators[step.op]
    x, y = graph.tensor(op.inputs[0]).shape, graph.tensor(op.outputs[0]).shape
    positions = int(np.prod(y[:-1]))
    seen = set()
    pointwise = (step.kind == "CONV_2D" and tuple(graph.tensor(op.inputs[1]).shape[1:3]) == (1, 1)
                 and tuple(x[1:3]) == tuple(y[1:3]) and positions > 1)
    if pointwise and step.weights:
        seen |= {f"weights-cin%4={x[-1] % 4}", f"weights-channels%2={len(step.channels) % 2}",
                 f"weights-positions%4={positions % 4}"}
    if pointwise and step.input_error:
        seen |= {f"error-cout%4={y[-1] % 4}", f"error-cin%2={x[-1] % 2}", f"error-positions%2={positions % 2}"}
    if step.kind == "DEPTHWISE_CONV_2D" and step.weights:
        seen |= {f"dw-weights-c%4={x[-1] % 4}"} | ({"dw-weights-quad"} if x[-1] >= 4 else set())
    return seen


def test_zoo_covers_the_dsp_kernels_tails(runs):
    # Every remainder of the DSP kernels' packing (odd rows, partial groups, an odd planned channel,
    # channels past the last quad) is reached, so the fidelity tests exercise each tail both natively
    # (dsp.h's portable twins) and on qemu-m7 (the instructions themselves).
    seen = set()
    for run in runs.values():
        for step in derive_program(run.graph, run.plan).steps:
            if step.kind != ACCUMULATE:
                seen |= _dsp_tails(run.graph, step)
    wanted = ({f"weights-cin%4={r}" for r in range(4)} | {f"weights-positions%4={r}" for r in range(4)}
              | {f"weights-channels%2={r}" for r in range(2)} | {f"error-cout%4={r}" for r in range(4)}
              | {f"error-cin%2={r}" for r in range(2)} | {f"error-positions%2={r}" for r in range(2)}
              | {f"dw-weights-c%4={r}" for r in range(4)} | {"dw-weights-quad"})
    assert wanted <= seen, f"not covered: {sorted(wanted - seen)}"


@pytest.mark.parametrize("name", NAMES)
def test_golden_training_moves_the_parameters(runs, name):
    run = runs[name]
    assert run.final != run.initial, f"{name}: {STEPS} golden steps changed no trainable byte"
    assert len({record[3] for record in run.records}) > STEPS // 2, f"{name}: most steps changed nothing"


@pytest.mark.parametrize("name", NAMES)
def test_native_training_is_bit_exact_with_golden(runs, native_results, name):
    result = native_results.get(name)
    assert isinstance(result, bytes), result or "no result"
    runs[name].compare(result)
