"""On qemu-m7, over the real serial protocol, the device trains exactly as the golden reference
(this is where the backward kernels' DSP instructions run: pointwise weight gradients and input
errors, FULLY_CONNECTED, depthwise channel quads and the update loop, their tails reached by
tests/training_zoo.py t36-t39, see test_training_fidelity.py test_zoo_covers_the_dsp_kernels_tails):
the same sequences as tests/test_training_fidelity.py (the generated training models side-loaded
into one protocol image, and `ref` built with each of its plans), compared after every step (loss,
prediction, CRC of the trainable region) and byte for byte at the end. Once more with frames too
small for `ref`'s input, so every sample reaches INFER and TRAIN in INPUT_CHUNKs."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from host_tools.banner import read_banner
from host_tools.emulator import Emulator
from host_tools.firmware_build import build_with_model
from host_tools.model_runner import SIDELOAD_ADDRESS
from host_tools.protocol.session import Session
from quantize.golden import run_output
from quantize.models import load_reference_model
from tests.training_runs import CASES, RECORD, REF_PLAN, REF_RUNS, Run, runs  # noqa: F401  (runs: a fixture)

pytestmark = [pytest.mark.emulator, pytest.mark.slow]
BOARD = "qemu-m7"
# Payload bytes of the small-frame image: less than `ref`'s 784-byte input (4 INPUT_CHUNKs a sample).
SMALL_PAYLOAD = 256


def _device_records(session: Session, run) -> bytes:
    """The run's steps on the device, in the native results file's layout."""
    session.set_config(run.lr, run.gradient_filter, run.seed)
    out = bytearray()
    for x, label in zip(run.inputs, run.labels):
        r = session.train(x, int(label))
        out += RECORD.pack(r.loss_q16, r.predicted, int(r.correct), session.trainable_crc()[1])
    return bytes(out + session.checkpoint_read())


@pytest.fixture(scope="module")
def sideload_image(firmware):
    """The protocol firmware reading its model blob from where QEMU's loader puts it."""
    return firmware.get(BOARD, f"-DMCUTRAIN_SIDELOAD_BLOB_ADDRESS=0x{SIDELOAD_ADDRESS[BOARD]:08x}").elf


def _session_on(elf, blob: bytes | None, tmp_path):
    extra = []
    if blob is not None:
        path = tmp_path / "model.blob"
        path.write_bytes(blob)
        extra = ["-device", f"loader,file={path},addr=0x{SIDELOAD_ADDRESS[BOARD]:08x},force-raw=on"]
    return Emulator(BOARD, elf, extra_args=extra)


@pytest.mark.parametrize("name", [c.name for c in CASES])
def test_qemu_training_of_generated_models_is_bit_exact_with_golden(runs, sideload_image, name, tmp_path):
    run = runs[name]
    with _session_on(sideload_image, run.lowered.blob, tmp_path) as emulator:
        link = emulator.connect()
        read_banner(link)
        with Session(link, url=emulator.url) as session:
            assert session.info().model_hash == struct.unpack_from("<I", run.lowered.blob, 12)[0]
            run.compare(_device_records(session, run))


@pytest.mark.parametrize("name", list(REF_RUNS))
def test_qemu_training_of_ref_is_bit_exact_with_golden(runs, name, tmp_path):
    run = runs[name]
    ref = load_reference_model("ref")
    elf = build_with_model(BOARD, ref.tflite_bytes(), "ref", "test", plan=run.plan).elf
    with _session_on(elf, None, tmp_path) as emulator:
        link = emulator.connect()
        read_banner(link)
        with Session(link, url=emulator.url) as session:
            run.compare(_device_records(session, run))


# mbv2-w0.35-128 with its sparse plan (quantize/models/mbv2-w0.35-128/plans/sparse.json): its stem runs
# as a row chain and its first block row-streamed; a few steps, each input staged in INPUT_CHUNKs.
MBV2_STEPS = 3


def test_qemu_training_of_mbv2_sparse_is_bit_exact_with_golden(tmp_path):
    from quantize.training_plan import resolve_plan

    mbv2 = load_reference_model("mbv2-w0.35-128").tflite_bytes()
    plan = resolve_plan("sparse", "mbv2-w0.35-128")
    run = Run("mbv2-w0.35-128", mbv2, Path(plan.source).read_text(), 13, 0.05, steps=MBV2_STEPS)
    assert "ROW_CHAIN" in run.lowered.op_names
    elf = build_with_model(BOARD, mbv2, "mbv2-w0.35-128", "test", plan=run.plan).elf
    with _session_on(elf, None, tmp_path) as emulator:
        link = emulator.connect()
        read_banner(link)
        with Session(link, url=emulator.url) as session:
            assert session.info().model_hash == struct.unpack_from("<I", run.lowered.blob, 12)[0]
            run.compare(_device_records(session, run))


@pytest.fixture(scope="module")
def small_frame_image(firmware):
    """The side-loading protocol firmware with frames of at most SMALL_PAYLOAD payload bytes."""
    return firmware.get(BOARD, f"-DMCUTRAIN_SIDELOAD_BLOB_ADDRESS=0x{SIDELOAD_ADDRESS[BOARD]:08x}",
                        f"-DMCUTRAIN_PROTOCOL_MAX_PAYLOAD={SMALL_PAYLOAD}").elf


def test_qemu_inputs_larger_than_a_frame_are_staged_and_bit_exact_with_golden(small_frame_image, tmp_path):
    # `ref` with its demo plan (the sequence of the test above, 50 steps), side-loaded: the
    # session stages each 784-byte input in chunks (a whole one would not fit a frame), then
    # sends INFER or TRAIN without a tensor.
    run = Run("ref-demo", load_reference_model("ref").tflite_bytes(), REF_PLAN, 5, 0.01)
    with _session_on(small_frame_image, run.lowered.blob, tmp_path) as emulator:
        link = emulator.connect()
        read_banner(link)
        with Session(link, url=emulator.url) as session:
            info = session.info()
            assert (info.max_payload, info.input_bytes) == (SMALL_PAYLOAD, 784)
            assert info.model_hash == struct.unpack_from("<I", run.lowered.blob, 12)[0]
            # Inference changes no parameter: the training below still starts from the flashed ones.
            inferred = list(session.infer_many(run.inputs[:4]))
            golden = [np.asarray(run_output(run.graph, x[None, ...])).astype(np.int8).tobytes() for x in run.inputs[:4]]
            assert [r.logits for r in inferred] == golden
            run.compare(_device_records(session, run))
            assert session.stats().samples_inferred == 4
