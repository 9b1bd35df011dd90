"""quantize/scratch.py asks the memory planner for exactly what the firmware's kernels ask for.

Each host function is held to the C++ twin it mirrors (the kernels' *_scratch_bytes, printed by
tests/scratch_twins.cpp built for the host with the firmware's sources): over a few hundred shapes
drawn to reach every path of the kernels (one-channel stem, tiled, reference loops, pair, wide,
staged and tap loops, fused blocks), and over every op of the reference models, whose blobs must
carry, in each op record, the scratch the firmware's twin computes from the blob itself.
"""

from __future__ import annotations

import itertools
import random
import shutil
import struct
import subprocess

import pytest

from host_tools import project
from quantize import blob as fmt
from quantize import scratch
from quantize.lower import lower_tflite
from quantize.models import load_reference_model
from quantize.row_chain import ROW_CHAIN_PARAMS, ROW_CHAIN_STAGE
from quantize.scratch import ChainStage, ConvGeometry, FusedConv

FIRMWARE_LIB = project.ROOT / "firmware" / "lib"
PRINTER = project.ROOT / "tests" / "scratch_twins.cpp"


@pytest.fixture(scope="module")
def cpp_twins(tmp_path_factory):
    """Runs the C++ twins on lines of tests/scratch_twins.cpp's format; returns their bytes."""
    if shutil.which("g++") is None:
        pytest.skip("no host C++ compiler")
    exe = tmp_path_factory.mktemp("scratch") / "scratch_twins"
    sources = [PRINTER, *sorted((FIRMWARE_LIB / "kernels").glob("*.cpp")), FIRMWARE_LIB / "model" / "fused_block.cpp",
               FIRMWARE_LIB / "model" / "row_chain.cpp"]
    subprocess.run(["g++", "-std=gnu++17", "-O1", "-fno-exceptions", "-DMCUTRAIN_HOST=1",
                    f"-I{FIRMWARE_LIB / 'kernels'}", f"-I{FIRMWARE_LIB / 'model'}", *map(str, sources), "-o", str(exe)],
                   check=True, capture_output=True, text=True)

    def run(lines: list[str]) -> list[int]:
        out = subprocess.run([str(exe)], input="\n".join(lines) + "\n", check=True, capture_output=True, text=True)
        return [int(v) for v in out.stdout.split()]

    return run


def _ints(*values) -> str:
    return " ".join(str(int(v)) for v in itertools.chain.from_iterable(
        v if isinstance(v, (tuple, list)) else (v,) for v in values))


def _geometry(g: ConvGeometry) -> tuple[int, ...]:
    return (g.stride_h, g.stride_w, g.pad_top, g.pad_left, g.dilation_h, g.dilation_w)


def conv_line(g, in_dims, filter_dims, out_dims, packed) -> str:
    return "conv " + _ints(_geometry(g), in_dims, filter_dims, out_dims, packed)


def dw_line(g, in_dims, filter_dims, out_dims) -> str:
    return "dw " + _ints(_geometry(g), in_dims, filter_dims, out_dims)


def ir_line(expand: FusedConv | None, depthwise: FusedConv, project: FusedConv, in_dims, out_dims) -> str:
    unused = FusedConv(ConvGeometry(), (1, 1, 1, 1))
    parts = [_ints(_geometry(c.geometry), c.filter_dims, c.packed) for c in (expand or unused, depthwise, project)]
    return "ir " + _ints(in_dims, out_dims, expand is not None) + " " + " ".join(parts)


def chain_line(stages: list[ChainStage], in_dims) -> str:
    parts = [_ints(_geometry(s.conv.geometry), s.conv.filter_dims, s.conv.packed, s.depthwise, s.rows, s.out_dims)
             for s in stages]
    return "chain " + _ints(in_dims, len(stages)) + " " + " ".join(parts)


def _out_size(size: int, k: int, stride: int, pad: int, dilation: int) -> int:
    return (size + 2 * pad - dilation * (k - 1) - 1) // stride + 1


def drawn_cases(seed: int = 12) -> list[tuple[str, int]]:
    """(twin line, the host's bytes) for shapes drawn to reach every kernel path."""
    rng = random.Random(seed)
    cases = []
    while len(cases) < 400:
        k = rng.choice((1, 1, 3, 3, 3, 5, 7))
        stride = rng.choice((1, 1, 2, 3))
        dilation = 1 if rng.random() < 0.9 else 2
        pad = rng.randint(0, k // 2)
        n = 1 if rng.random() < 0.9 else 2
        h, w = rng.randint(1, 40), rng.choice((rng.randint(1, 40), rng.randint(60, 140)))
        oh, ow = _out_size(h, k, stride, pad, dilation), _out_size(w, k, stride, pad, dilation)
        if oh < 1 or ow < 1:
            continue
        g = ConvGeometry(stride, rng.choice((stride, 1, 2)), pad, pad, dilation, dilation)
        if rng.random() < 0.5:  # CONV_2D
            in_c = rng.choice((1, 1, 2, 3, 4, 5, 8, 16, 24, 96, 160, 636, 640, 700))
            out_c = rng.choice((1, 2, 5, 16, 48))
            packed = k == 1 and in_c % 4 == 0 and rng.random() < 0.5
            args = (g, (n, h, w, in_c), (out_c, k, k, in_c), (n, oh, ow, out_c), packed)
            cases.append((conv_line(*args), scratch.conv2d_s8_scratch_bytes(*args)))
        else:  # DEPTHWISE_CONV_2D
            c = rng.choice((1, 3, 4, 6, 8, 48, 96, 144))
            args = (g, (n, h, w, c), (1, k, k, c), (n, oh, ow, c))
            cases.append((dw_line(*args), scratch.depthwise_conv2d_s8_scratch_bytes(*args)))
    while len(cases) < 500:  # fused blocks: one row of each kernel at a time
        in_c, expanded, out_c = rng.choice((4, 8, 16)), rng.choice((8, 24, 48, 96)), rng.choice((4, 8, 16))
        kh, stride = rng.choice((3, 5)), rng.choice((1, 2))
        h = w = rng.choice((4, 7, 16, 32, 64))
        out = (1, _out_size(h, kh, stride, kh // 2, 1), _out_size(w, kh, stride, kh // 2, 1), out_c)
        expand = FusedConv(ConvGeometry(), (expanded, 1, 1, in_c), rng.random() < 0.5) if rng.random() < 0.8 else None
        expanded = expanded if expand else in_c
        depthwise = FusedConv(ConvGeometry(stride, stride, kh // 2, kh // 2), (1, kh, kh, expanded))
        project = FusedConv(ConvGeometry(), (out_c, 1, 1, expanded), rng.random() < 0.5)
        args = (expand, depthwise, project, (1, h, w, in_c), out)
        cases.append((ir_line(*args), scratch.inverted_residual_scratch_bytes(*args)))
    while len(cases) < 600:  # row chains: every band of every stage, each input height a band reads
        h, w, c = rng.choice((5, 9, 16, 33, 64)), rng.choice((3, 7, 16, 64)), rng.choice((1, 3, 8))
        in_dims, dims, stages = (1, h, w, c), (1, h, w, c), []
        for _ in range(rng.randint(2, 4)):
            kind = rng.choice(("conv", "dw", "pw"))
            k, stride = (1, 1) if kind == "pw" else (rng.choice((3, 5)), rng.choice((1, 2)))
            out_c = dims[3] if kind == "dw" else int(rng.choice((4, 8, 16, 48)))
            pad = k // 2
            out = (1, _out_size(dims[1], k, stride, pad, 1), _out_size(dims[2], k, stride, pad, 1), out_c)
            filter_dims = (1, k, k, dims[3]) if kind == "dw" else (out_c, k, k, dims[3])
            conv = FusedConv(ConvGeometry(stride, stride, pad, pad), filter_dims, kind == "pw" and rng.random() < 0.5)
            stages.append(ChainStage(conv, kind == "dw", int(rng.choice((1, 2, 4))), out))
            dims = out
        cases.append((chain_line(stages, in_dims), scratch.row_chain_scratch_bytes(stages, in_dims)))
    return cases


def test_host_twins_match_the_firmware_twins_on_drawn_shapes(cpp_twins):
    cases = drawn_cases()
    firmware = cpp_twins([line for line, _ in cases])
    mismatches = [(line, host, dev) for (line, host), dev in zip(cases, firmware) if host != dev]
    assert len(firmware) == len(cases) and not mismatches, mismatches[:5]
    # The draw reaches the paths: no scratch (reference loops), and each kind's largest.
    sizes = {line.split()[0]: set() for line, _ in cases}
    for (line, _), dev in zip(cases, firmware):
        sizes[line.split()[0]].add(dev)
    assert 0 in sizes["conv"] and 0 in sizes["dw"]
    assert max(sizes["conv"]) <= scratch.SCRATCH_WORDS * 4 and max(sizes["dw"]) <= 4608


def _blob_lines(blob: bytes) -> list[tuple[str, int]]:
    """(twin line, the op record's scratch_size) for each conv, depthwise and fused op of a blob."""
    header = fmt.read_header(blob)
    data = blob[header["data_offset"]:]
    tensors = [fmt.TENSOR.unpack_from(blob, header["tensors_offset"] + i * fmt.TENSOR.size)
               for i in range(header["num_tensors"])]
    dims = [tuple(t[:4]) for t in tensors]
    packed = [t[4] in scratch.PACKED_TYPES for t in tensors]

    def geometry(offset: int) -> ConvGeometry:
        return ConvGeometry(*fmt.CONV_PARAMS.unpack_from(data, offset)[:6])

    lines = []
    for i in range(header["num_ops"]):
        opcode, _, output, in0, in1, _, _, params, _, _, scratch_size = fmt.OP.unpack_from(
            blob, header["ops_offset"] + i * fmt.OP.size)
        if opcode == fmt.OpCode.CONV_2D:
            lines.append((conv_line(geometry(params), dims[in0], dims[in1], dims[output], packed[in1]), scratch_size))
        elif opcode == fmt.OpCode.DEPTHWISE_CONV_2D:
            lines.append((dw_line(geometry(params), dims[in0], dims[in1], dims[output]), scratch_size))
        elif opcode == fmt.OpCode.INVERTED_RESIDUAL:
            tail = fmt.FUSED_TAIL.unpack_from(data, params + 3 * fmt.CONV_PARAMS.size + fmt.ADD_PARAMS.size)
            expand, depthwise, project = (
                FusedConv(geometry(params + k * fmt.CONV_PARAMS.size), dims[f], packed[f]) if f != fmt.NO_TENSOR
                else None for k, f in enumerate(tail[0:6:2]))
            lines.append((ir_line(expand, depthwise, project, dims[in0], dims[output]), scratch_size))
        elif opcode == fmt.OpCode.ROW_CHAIN:
            (count,) = struct.unpack_from("<I", data, params)
            stages = []
            for k in range(count):
                at = params + ROW_CHAIN_PARAMS.offset(f"stages[{k}].conv.conv.stride_h")
                f = dict(zip(ROW_CHAIN_STAGE.names, ROW_CHAIN_STAGE.unpack_from(data, at)))
                stages.append(ChainStage(FusedConv(geometry(at), dims[f["filter"]], packed[f["filter"]]),
                                         bool(f["depthwise"]), f["rows"], (1, f["out_h"], f["out_w"], f["out_c"])))
            lines.append((chain_line(stages, dims[in0]), scratch_size))
    return lines


@pytest.mark.parametrize("name, stream", [("ref", "auto"), ("ref", "all"), ("mbv2-w0.35-128", "auto")])
def test_reference_blobs_carry_the_scratch_the_firmware_computes(cpp_twins, name, stream):
    lowered = lower_tflite(load_reference_model(name).tflite_bytes(), name[:16], stream=stream)
    lines = _blob_lines(lowered.blob)
    assert cpp_twins([line for line, _ in lines]) == [planned for _, planned in lines]
    assert any(planned for _, planned in lines)
    kernel_scratch = [b for b in lowered.plan.buffers if b.name.startswith("kernel_scratch")]
    assert len(kernel_scratch) == sum(1 for _, planned in lines if planned)
    assert all(b.first_use == b.last_use for b in kernel_scratch)  # alive while its op runs, no longer
