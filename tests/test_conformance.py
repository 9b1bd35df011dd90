"""`mcutrain bench conformance`: random Keras CNNs converted as users convert them are each either
compiled and bit-exact with TFLite Micro on the emulated board, or refused in one line with a
reason; a seeded subset runs here (the 100-model run is a benchmark command)."""

from __future__ import annotations

import pytest

from host_tools.conformance import refusal_reason, run_conformance


def test_refusals_count_under_the_op_or_the_op_and_its_option():
    assert refusal_reason("operator 7 is LEAKY_RELU, which mcutrain does not implement (supported: CONV_2D)") == \
        "LEAKY_RELU"
    assert refusal_reason("operator 3 (CONV_2D): dilation 2x2 (supported: 1x1)") == "CONV_2D: dilation NxN"


@pytest.mark.emulator
def test_a_seeded_subset_is_compiled_and_bit_exact_or_refused():
    figures = run_conformance(5, 1, "qemu-m7")
    assert figures["generated"] == 5 == figures["compiled"] + figures["refused"]
    assert figures["compiled"] == figures["bit_exact"] + figures["mismatched"] + figures["crashed"]
    assert figures["mismatched"] == 0 and figures["crashed"] == 0, figures["models"]
    assert figures["bit_exact"] >= 1 and sum(figures["refusals"].values()) == figures["refused"]
    for model in figures["models"]:
        if model["result"] == "refused":  # one line naming the operator, as compile prints it
            assert "\n" not in model["error"] and "operator " in model["error"]
