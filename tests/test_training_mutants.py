"""Mutation tests of the training step's DSP kernels: backward_s8.cpp's pointwise weight gradient and
input error, its stochastic-rounding update loop and word-wise mask, backward_depthwise.cpp's channel
quads, dsp.h's smlad_2x2_blocks, backward_pool.cpp's MAX_POOL_2D routing, the ReLU mask, the portable
paths of dilation and depth multipliers, backward_derivative.cpp's element-wise derivatives, and MUL's
and SUB's broadcast error sums (backward_broadcast.cpp, trainer.cpp) (firmware/lib). Each mutant breaks
one kernel as a bug would (a
wrong tail, sign, lane or rounding) in a copy of the firmware, which must then fail the bit-exact
comparison with the golden reference that tests/test_training_fidelity.py (native build: the same
packing and loops through dsp.h's portable twins) and tests/test_training_device.py (qemu-m7: the
DSP instructions) make. A mutant that passed would be a bug those tests cannot see. The control,
the copy unmutated, must pass, so that a broken copy cannot pass for a caught mutant."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from host_tools import project
from host_tools.banner import read_banner
from host_tools.model_runner import SIDELOAD_ADDRESS
from host_tools.protocol.errors import ProtocolError
from host_tools.protocol.session import Session
from tests.test_training_device import BOARD, _device_records, _session_on
from tests.test_training_fidelity import native_training
from tests.training_runs import runs  # noqa: F401  (a fixture)

pytestmark = pytest.mark.slow

# The cases whose steps reach the kernels' tails (tests/training_zoo.py), besides a wide pointwise pair.
CASES = ("t15_wide_pointwise", "t36_pointwise_odd", "t37_dw_odd", "t38_dense_odd", "t39_dw_odd_stride2")


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str      # under firmware/lib
    original: str  # occurs exactly once in the file
    mutated: str


CONTROL = Mutant("control", "train/backward_s8.cpp", "void apply_mask(", "void apply_mask(")
S8, DW, DSP = "train/backward_s8.cpp", "train/backward_depthwise.cpp", "kernels/dsp.h"
NATIVE = [
    Mutant("pack-pair-tail-row", S8, "lanes[4 + j] = static_cast<int16_t>(*b + offset);",
           "lanes[4 + j] = static_cast<int16_t>(*a + offset);"),
    Mutant("pointwise-gradient-zero-point-sign", S8, "c_in, positions, -x_zero_point);",
           "c_in, positions, x_zero_point);"),
    Mutant("pointwise-error-odd-channel", S8, "const bool second_c = c + 1 < c_in,", "const bool second_c = true,"),
    Mutant("pointwise-error-block-lane", S8, "out[c_in] = normalised(v[2]);", "out[c_in] = normalised(v[3]);"),
    Mutant("update-delta-sign", S8, "dsp::ssat8(*w - dsp::ssat9(delta))", "dsp::ssat8(*w + dsp::ssat9(delta))"),
    Mutant("update-rounding-draw", S8, "(state >> (32 - kRandomBits)) << 15;", "(state >> (32 - kRandomBits)) << 14;"),
    Mutant("mask-high-nibble", S8, "kBytes[bits >> 4]", "kBytes[bits & 15u]"),
    Mutant("depthwise-quad-lanes", DW, "gradient[taps + tap] = a1, gradient[2 * taps + tap] = a2",
           "gradient[taps + tap] = a2, gradient[2 * taps + tap] = a1"),
    Mutant("depthwise-error-reader-edge", DW, "if (ox >= 0)\n        out[count++]", "if (ox > 0)\n        out[count++]"),
    Mutant("depthwise-error-scaling", DW, "dsp::smmlar(e[readers[k].error + c] * 32,", "dsp::smmlar(e[readers[k].error + c] * 16,"),
    Mutant("depthwise-zero-point-sign", DW, "dsp::pack(-x_zero_point, -x_zero_point)",
           "dsp::pack(x_zero_point, x_zero_point)"),
]
# The instructions only the device runs (the native build compiles the portable twins instead):
# smlad_2x2_blocks and the update loop of backward_s8.cpp fast_updates.
DEVICE = [
    Mutant("blocks-odd-group-entry", DSP, 'KERNELS_SMLAD_BLOCKS("b 3f\\n\\t")', 'KERNELS_SMLAD_BLOCKS("")'),
    Mutant("blocks-lane", DSP, '"smlad r7, r10, r8, r7\\n\\t"', '"smlad r7, r10, r5, r7\\n\\t"'),
    Mutant("update-asm-delta-clamp", S8, '"ssat %[high], #9, %[high]\\n\\t"', '"ssat %[high], #8, %[high]\\n\\t"'),
    Mutant("update-asm-delta-sign", S8, '"sub %[t], %[t], %[high]\\n\\t"', '"add %[t], %[t], %[high]\\n\\t"'),
    Mutant("update-asm-rounding-draw", S8, '"lsl %[low], %[low], #15\\n\\t"', '"lsl %[low], %[low], #14\\n\\t"'),
]


# backward_filter.cpp's gradient-filtering kernels (portable C++ on both builds), over the cases that
# filter: 1x1, 3x3 and depthwise layers, r = 2 and 4, clipped patches, SET_CONFIG's flag on and off.
FILTER_CASES = ("t40_gf2_pointwise_odd", "t41_gf4_k3_edges", "t42_gf2_dw_between", "t43_gf4_dw_first_bias_only",
                "ref-gf2", "ref-gf2-off")
GF = "train/backward_filter.cpp"
FILTER = [
    Mutant("patch-means-truncate", GF, "* reciprocal + (1 << 15)) >> 16", "* reciprocal) >> 16"),
    Mutant("filtered-input-error-full-patches", GF, "PatchGrid::reciprocal(rows * cols);",
           "PatchGrid::reciprocal(grid.r * grid.r);"),
    Mutant("filter-error-halved", GF, "= normalised(patch_sum(grid, e, out.c, n, pi, pj, c), shift);",
           "= normalised(patch_sum(grid, e, out.c, n, pi, pj, c) / 2, shift - 1);"),
    Mutant("filtered-conv-input-error-one-tap", GF, "for (int32_t t = 0; t < taps; ++t) {\n        const int8_t* w",
           "for (int32_t t = 0; t < 1; ++t) {\n        const int8_t* w"),
    Mutant("filtered-depthwise-input-error-drops-a-tap", GF, "for (int32_t t = 0; t < taps; ++t) kernel_sum +=",
           "for (int32_t t = 1; t < taps; ++t) kernel_sum +="),
    Mutant("patch-weight-gradient-next-patch", GF,
           "* (means[((n * grid.ph + pi) * grid.pw + pj) * c_in + o] - x_zero_point);",
           "* (means[((n * grid.ph + pi) * grid.pw + pj) * c_in + o + (pj + 1 < grid.pw ? c_in : 0)] - x_zero_point);"),
    Mutant("filtered-pointwise-block-lanes", GF, "p / 2) * 4 + (p % 2) * 2 + c % 2];", "p / 2) * 4 + (p % 2) + (c % 2) * 2];"),
    Mutant("patch-sum-one-row", GF, "for (int32_t y = 0; y < rows; ++y, row += row_step) {",
           "for (int32_t y = 0; y < 1; ++y, row += row_step) {"),
]


# backward_pool.cpp's MAX_POOL_2D error routing and the clamp mask of a standalone RELU (portable C++
# on both builds), over the cases that cross them: 2x2 windows, overlapping 3x3 windows whose
# ReLU6 zeros tie, and a RELU after MEAN.
POOL_ACTIVATION_CASES = ("t45_relu_after_mean", "t46_relu_after_mean_dw", "t47_maxpool_k2s2",
                         "t48_maxpool_k3s2same_overlap")
POOL = "train/backward_pool.cpp"
POOL_ACTIVATION = [
    Mutant("max-pool-last-maximum-takes-ties", POOL, "if (v > best) {", "if (v >= best) {"),
    Mutant("max-pool-error-to-every-element", POOL, "if (holds_window_max(p, in, x, n, oy, ox, c, iy, ix)) sum +=",
           "sum +="),
    Mutant("relu-mask-keeps-the-floor", S8, "if (y[i] > act_min && y[i] < act_max)", "if (y[i] >= act_min && y[i] < act_max)"),
]


# backward_derivative.cpp's element-wise derivative (portable C++ on both builds) and its dispatch in
# trainer.cpp, over the cases that cross LEAKY_RELU, LOGISTIC, TANH and HARD_SWISH.
DERIVATIVE_CASES = ("t55_leaky_relu_after_conv", "t56_sigmoid_after_conv", "t57_tanh_after_conv",
                    "t58_hard_swish_after_conv", "t59_activations_dense_stack")
ELEMENTWISE, TRAINER = "train/backward_derivative.cpp", "train/trainer.cpp"
DERIVATIVE = [
    Mutant("derivative-table-index-off-by-one", ELEMENTWISE, "const int32_t* d = table + 128;",
           "const int32_t* d = table + 127;"),
    Mutant("derivative-exponent-off-by-one", TRAINER, "return exponent + s.back_exponent -",
           "return exponent + s.back_exponent + 1 -"),
    Mutant("derivative-at-the-output", TRAINER, "model_->tensor_data(op.inputs[0])), e, in_error);",
           "model_->tensor_data(op.output)), e, in_error);"),
]


# The portable paths of dilation, depth multipliers and strides 3 and 4 (backward_s8.cpp's row
# loops, backward_depthwise_spread.cpp), over the cases that take them.
OPTION_CASES = ("t50_conv_dilated", "t51_dw_multiplier2", "t52_dw_dilated_multiplier_stride4",
                "t53_conv_stride3_stride4", "t54_pools_stride3")
SPREAD = "train/backward_depthwise_spread.cpp"
OPTIONS = [
    Mutant("conv-error-undilated-rows", S8, "i * g.dilation_h, g.pad_top, g.in.h);\n          if (iy < 0)",
           "i, g.pad_top, g.in.h);\n          if (iy < 0)"),
    Mutant("conv-gradient-dilation-axis", S8, "j * g.dilation_w, g.pad_left, g.in.w);\n              if (ix < 0)",
           "j * g.dilation_h, g.pad_left, g.in.w);\n              if (ix < 0)"),
    Mutant("depthwise-error-undilated-rows", SPREAD, "output_index(iy, g.stride_h, i * g.dilation_h,",
           "output_index(iy, g.stride_h, i,"),
    Mutant("depthwise-error-first-output-channel", SPREAD, "first = c * multiplier,", "first = c,"),
    Mutant("depthwise-error-one-output-channel", SPREAD, "end = first + multiplier;", "end = first + 1;"),
    Mutant("depthwise-gradient-multiplier-channel-map", SPREAD, "const int32_t c = o / (g.out.c / g.in.c);",
           "const int32_t c = o % g.in.c;"),
    Mutant("depthwise-gradient-undilated-columns", SPREAD, "j * g.dilation_w - g.pad_left;", "j - g.pad_left;"),
]


# backward_broadcast.cpp and trainer.cpp's MUL and SUB backward, backward_s8.cpp's MEAN over other axes
# (portable C++ on both builds), over the cases that cross them: a squeeze-and-excitation gate
# (broadcast sums over H and W), the same shape with a mask, a scalar constant, a subtracted gate, a
# MEAN over the width alone.
ELEMENT_WISE_CASES = ("t65_mul_se_gate", "t66_mul_same_shape_relu", "t67_mul_scalar", "t68_sub_gate_relu",
                      "t69_mean_width_dense")
BB = "train/backward_broadcast.cpp"
ELEMENT_WISE = [
    Mutant("broadcast-sum-drops-the-last-row", BB, "oh < (bh ? out.h : h + 1)", "oh < (bh ? out.h - 1 : h + 1)"),
    Mutant("sub-second-error-not-negated", TRAINER, "k == 0 ? 1 : -1", "k == 0 ? 1 : 1"),
    Mutant("mul-first-error-scaled-by-its-own-input", TRAINER, "MulFactor{f->multiplier1, f->exponent1}",
           "MulFactor{f->multiplier2, f->exponent1}"),
    Mutant("mul-other-zero-point-sign", BB, "c * s.c] - other_zero_point;", "c * s.c] + other_zero_point;"),
    Mutant("mean-error-as-if-over-h-too", S8, "(rh ? 0 : h)", "0"),
]


# The copies of CONCATENATION's and STRIDED_SLICE's backward (trainer.cpp, kernels/concatenation_s8.cpp),
# over the cases that cross them: two and three inputs on the channel axis, fan-out below, channel
# ranges (SPLIT, SPLIT_V, x[..., a:b]).
SLICE_CASES = ("t60_concat_branches", "t61_concat_three", "t62_split_two_ways", "t63_channel_range",
               "t64_split_v_concat")
CONCAT = "kernels/concatenation_s8.cpp"
SLICE = [
    Mutant("concat-part-skips-first-input", TRAINER, "for (uint16_t i = 0; i < s.input; ++i) start +=",
           "for (uint16_t i = 1; i < s.input; ++i) start +="),
    Mutant("concat-later-input-error-unwritten", TRAINER, "kernels::concatenation_part_s8(p, dims_of(out), e,",
           "if (s.input == 0) kernels::concatenation_part_s8(p, dims_of(out), e,"),
    Mutant("slice-error-one-channel-later", TRAINER, "pad.before[p.axis] = p.begin;\n      pad.after[p.axis] = "
           "axis_size(dims_of(in), p.axis) - p.begin -", "pad.before[p.axis] = p.begin + 1;\n      pad.after[p.axis] = "
           "axis_size(dims_of(in), p.axis) - p.begin - 1 -"),
    Mutant("slice-dropped-range-not-zero", TRAINER, "kernels::PadParams pad{{0, 0, 0, 0}, {0, 0, 0, 0}, 0};",
           "kernels::PadParams pad{{0, 0, 0, 0}, {0, 0, 0, 0}, 1};"),
    Mutant("concat-part-one-block", CONCAT, "for (int32_t b = 0; b < blocks; ++b)\n    std::memcpy(part",
           "for (int32_t b = 0; b < 1; ++b)\n    std::memcpy(part"),
]


def _mutated_project(folder: Path, mutant: Mutant) -> Path:
    """A copy of the PlatformIO project with the mutant applied."""
    root = folder / "project"
    shutil.copytree(project.ROOT / "firmware", root / "firmware")
    for name in ("platformio.ini", "pyproject.toml"):
        shutil.copy(project.ROOT / name, root / name)
    path = root / "firmware" / "lib" / mutant.path
    text = path.read_text()
    assert text.count(mutant.original) == 1, f"{mutant.name}: its text is not in {mutant.path} exactly once"
    path.write_text(text.replace(mutant.original, mutant.mutated))
    return root


def _matches(run, results: bytes | str | None) -> bool:
    if not isinstance(results, bytes):
        return False
    try:
        run.compare(results)
    except AssertionError:
        return False
    return True


def _native_matches(runs, mutant: Mutant, folder: Path, cases: tuple[str, ...] = CASES) -> dict[str, bool]:
    results = native_training({name: runs[name] for name in cases}, folder, _mutated_project(folder, mutant))
    return {name: _matches(runs[name], results.get(name)) for name in cases}


def _device_matches(runs, mutant: Mutant, folder: Path) -> dict[str, bool]:
    root = _mutated_project(folder, mutant)
    env = project.pio_environment()
    env["PLATFORMIO_BUILD_FLAGS"] = f"-DMCUTRAIN_SIDELOAD_BLOB_ADDRESS=0x{SIDELOAD_ADDRESS[BOARD]:08x}"
    build = subprocess.run([project.pio_executable(), "run", "-e", BOARD, "-d", str(root)], env=env, cwd=root,
                           capture_output=True, text=True)
    assert build.returncode == 0, f"{mutant.name}: the build failed:\n{build.stdout[-3000:]}{build.stderr[-2000:]}"
    matches = {}
    for name in CASES:
        run = runs[name]
        with _session_on(root / ".pio" / "build" / BOARD / "firmware.elf", run.lowered.blob, folder) as emulator:
            link = emulator.connect()
            read_banner(link)
            try:
                with Session(link, url=emulator.url) as session:
                    matches[name] = _matches(run, _device_records(session, run))
            except ProtocolError:  # the mutant crashed or hung the device: caught as well
                matches[name] = False
    return matches


def test_native_control_copy_is_bit_exact(runs, tmp_path):
    assert all(_native_matches(runs, CONTROL, tmp_path).values())


@pytest.mark.parametrize("mutant", NATIVE, ids=lambda m: m.name)
def test_native_fidelity_catches_mutant(runs, mutant, tmp_path):
    assert not all(_native_matches(runs, mutant, tmp_path).values()), f"{mutant.name} passes the native fidelity test"


# Each group's mutants against the cases that reach their kernels.
GROUPS = [(mutant, cases) for group, cases in ((FILTER, FILTER_CASES), (POOL_ACTIVATION, POOL_ACTIVATION_CASES),
                                               (DERIVATIVE, DERIVATIVE_CASES), (OPTIONS, OPTION_CASES),
                                               (ELEMENT_WISE, ELEMENT_WISE_CASES), (SLICE, SLICE_CASES))
          for mutant in group]


@pytest.mark.parametrize("mutant, cases", GROUPS, ids=[m.name for m, _ in GROUPS])
def test_native_fidelity_catches_kernel_mutant(runs, mutant, cases, tmp_path):
    assert not all(_native_matches(runs, mutant, tmp_path, cases).values()), \
        f"{mutant.name} passes the native fidelity test"


@pytest.mark.emulator
def test_qemu_control_copy_is_bit_exact(runs, tmp_path):
    assert all(_device_matches(runs, CONTROL, tmp_path).values())


@pytest.mark.emulator
@pytest.mark.parametrize("mutant", DEVICE, ids=lambda m: m.name)
def test_qemu_fidelity_catches_mutant(runs, mutant, tmp_path):
    assert not all(_device_matches(runs, mutant, tmp_path).values()), f"{mutant.name} passes the qemu-m7 fidelity test"
