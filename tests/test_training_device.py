"""On qemu-m7, over the real serial protocol, the device trains exactly as the golden reference:
the same sequences as tests/test_training_fidelity.py (the generated training models side-loaded
into one protocol image, and `ref` built with each of its plans), compared after every step (loss,
prediction, CRC of the trainable region) and byte for byte at the end."""

from __future__ import annotations

import struct

import pytest

from host_tools.banner import read_banner
from host_tools.emulator import Emulator
from host_tools.firmware_build import build_with_model
from host_tools.model_runner import SIDELOAD_ADDRESS
from host_tools.protocol.session import Session
from quantize.models import load_reference_model
from tests.training_runs import CASES, RECORD, REF_RUNS, runs  # noqa: F401  (runs: a fixture)

pytestmark = [pytest.mark.emulator, pytest.mark.slow]
BOARD = "qemu-m7"


def _device_records(session: Session, run) -> bytes:
    """The run's steps on the device, in the native results file's layout."""
    session.set_config(run.lr, False, run.seed)
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
