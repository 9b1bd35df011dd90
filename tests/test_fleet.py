"""`mcutrain fleet`: Flower's server and one client process per emulated qemu-m7 device.

The global parameters after a round must equal, bit for bit, the documented average of the
devices' trained parameters (README "Fleets"), computed here on the host from their checkpoints
independently of quantize/fleet_average.py, and every device must hold exactly them after the
global write (the CRC it reports). A device killed in the middle of a round is left out of that
round's average and rejoins in the next; a device whose firmware runs another model is refused
before round 1; no emulator or client process outlives a run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zlib

import numpy as np
import pytest

from host_tools import cli
from host_tools.commands.checkpoint import Checkpoint
from host_tools.errors import McutrainError
from host_tools.fleet_partition import parse_partition, partition

SEED = 3
PER_DEVICE = 24


def _fleet(capsys, tmp_path, *extra: str) -> dict:
    capsys.readouterr()
    code = cli.main(["fleet", "--devices", "2", "--rounds", "2", "--plan", "demo", "--limit", str(PER_DEVICE),
                     "--test-limit", "20", "--seed", str(SEED), "--out", str(tmp_path), "--json", *extra])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def _region(path) -> bytes:
    return Checkpoint.from_file(path).data


def _documented_average(regions: list[bytes], weights: list[int], server_round: int) -> bytes:
    """README "Fleets": dequantize with the fixed scales, the weighted mean, floor(x + u) with u from
    PCG64(seed, round, tensor) unless x is within 1e-6 of an integer, clamp."""
    from quantize.lower import lower_tflite
    from quantize.models import load_reference_model
    from quantize.tflite_model import parse_tflite
    from quantize.training_plan import resolve_plan

    tflite = load_reference_model("ref").tflite_bytes()
    lowered = lower_tflite(tflite, "ref", plan=resolve_plan("demo", "ref"))
    graph = parse_tflite(tflite)
    average = bytearray(len(regions[0]))
    for index, offset, nbytes in lowered.trainable_layout:
        t = graph.tensor(index)
        dtype = np.dtype(t.dtype).newbyteorder("<")
        scale = t.quantization.scales.astype(np.float64)
        if len(scale) > 1:
            scale = scale.reshape([-1 if axis == t.quantization.axis else 1 for axis in range(len(t.shape))])
        reals = [np.frombuffer(r, dtype, int(np.prod(t.shape)), offset).reshape(t.shape) * scale for r in regions]
        mean = sum(w * r for w, r in zip(weights, reals)) / sum(weights)
        x = mean / scale
        u = np.random.default_rng([SEED, server_round, index]).random(t.shape)
        q = np.where(np.abs(x - np.round(x)) <= 1e-6, np.round(x), np.floor(x + u))
        limit = (-127, 127) if t.dtype == "int8" else (-(2 ** 31), 2 ** 31 - 1)
        average[offset:offset + nbytes] = np.clip(q, *limit).astype(dtype).tobytes()
    return bytes(average)


def _leftover_processes() -> list[str]:
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout.splitlines()
    # This checkout's clients only (its interpreter): another checkout's fleet may be running.
    return [line for line in ps if "host_tools.fleet_client" in line and line.startswith(sys.executable)]


@pytest.mark.emulator
@pytest.mark.slow
def test_global_parameters_are_the_documented_average_of_the_devices(capsys, tmp_path):
    report = _fleet(capsys, tmp_path)
    assert [r["round"] for r in report["rounds"]] == [1, 2]
    assert all(0 <= r["global_accuracy"] <= 1 and r["dropped"] == [] for r in report["rounds"])
    for r in report["rounds"]:
        devices = [_region(tmp_path / f"device-{d}-round-{r['round']}.ckpt") for d in (0, 1)]
        assert devices[0] != devices[1], "the devices trained on different shards"
        expected = _documented_average(devices, [d["samples"] for d in r["devices"]], r["round"])
        assert _region(tmp_path / f"global-round-{r['round']}.ckpt") == expected
        # Each device reported the CRC of what it holds after the global write: run_fleet refuses
        # any other, and the global's is the host's average.
        assert r["global_crc"] == f"0x{zlib.crc32(expected):08x}"
        assert all(d["bytes_sent"] == 2 * report["region_bytes"] for d in r["devices"])
    assert (tmp_path / "fleet.png").stat().st_size > 0
    assert len((tmp_path / "fleet.csv").read_text().splitlines()) == 1 + 2 * 2
    assert _leftover_processes() == []
    # The golden reference's fleet (host_tools/fleet_golden.py) trains the same shards to the same
    # regions and reaches the same global model and accuracy, round after round.
    golden = _golden_fleet(devices=2, rounds=2, limit=PER_DEVICE, test_limit=20)
    for r, g in zip(report["rounds"], golden["rounds"]):
        trained = {d: _region(tmp_path / f"device-{d}-round-{r['round']}.ckpt") for d in (0, 1)}
        assert g["device_crcs"] == {str(d): f"0x{zlib.crc32(region):08x}" for d, region in trained.items()}
        assert (g["global_crc"], g["global_accuracy"]) == (r["global_crc"], r["global_accuracy"])


def _golden_fleet(devices: int, rounds: int, limit: int, test_limit: int) -> dict:
    from host_tools.fleet_golden import simulate_fleet
    from host_tools.protocol.device import host_model
    from host_tools.protocol.workload import load_samples

    model = host_model("ref", "demo")
    train = load_samples(model, "mnist5k", "train", limit * devices)
    test = load_samples(model, "mnist5k", "test", test_limit)
    return simulate_fleet(model, train, test, devices, rounds, 1, None, SEED, "fedavg", parse_partition("iid"))


@pytest.mark.emulator
@pytest.mark.slow
def test_a_device_killed_mid_round_is_left_out_and_rejoins(capsys, tmp_path):
    report = _fleet(capsys, tmp_path, "--drop", "1@1")
    first, second = report["rounds"]
    assert first["dropped"] == [1] and [d["device"] for d in first["devices"]] == [0]
    assert second["dropped"] == [] and second["rejoined"] == [1]
    # One device reported: the average is its region (no rounding: its values are integers).
    assert _region(tmp_path / "global-round-1.ckpt") == _region(tmp_path / "device-0-round-1.ckpt")
    assert _region(tmp_path / "global-round-2.ckpt") == _documented_average(
        [_region(tmp_path / f"device-{d}-round-2.ckpt") for d in (0, 1)],
        [d["samples"] for d in second["devices"]], 2)
    assert _leftover_processes() == []


@pytest.mark.emulator
@pytest.mark.slow
def test_a_device_running_another_model_is_refused_before_round_one(capsys, tmp_path):
    from host_tools.banner import read_banner
    from host_tools.emulator import Emulator
    from host_tools.protocol.device import emulated_firmware

    other = emulated_firmware("qemu-m7", "ref", None, quiet=True)  # the head plan: another blob, another hash
    with Emulator("qemu-m7", other) as emulator:
        link = emulator.connect()
        read_banner(link)
        link.close()  # QEMU serves one connection at a time: the fleet's
        capsys.readouterr()
        code = cli.main(["fleet", "--ports", emulator.url, "--rounds", "1", "--plan", "demo", "--limit", "8",
                         "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code != 0 and len(err.splitlines()) == 1
    assert err.startswith(f"mcutrain: error: device 0 ({emulator.url}): the device runs model ref (hash 0x")
    assert not list(tmp_path.glob("*.ckpt"))


def test_partitions_share_every_sample_once_and_are_seeded():
    labels = np.repeat(np.arange(10), 30)
    for scheme in ("iid", "by-class", "dirichlet:0.5"):
        shares = partition(labels, 4, *parse_partition(scheme), seed=1)
        assert sorted(np.concatenate(shares).tolist()) == list(range(len(labels)))
        again = partition(labels, 4, *parse_partition(scheme), seed=1)
        assert all(np.array_equal(a, b) for a, b in zip(shares, again))
    by_class = partition(labels, 4, "by-class", None, 1)
    assert [sorted(set(labels[s].tolist())) for s in by_class][0] == [0, 4, 8]
    skewed = partition(labels, 4, "dirichlet", 0.1, 1)
    assert min(len(set(labels[s].tolist())) for s in skewed) < 10  # non-IID: some device misses classes


@pytest.mark.parametrize("text, message", [("dirichlet", "positive concentration"), ("dirichlet:-1", "positive"),
                                           ("shards", "expected iid|dirichlet:ALPHA|by-class")])
def test_bad_partitions_are_one_line_errors(text, message):
    with pytest.raises(McutrainError, match=message):
        parse_partition(text)


def test_requantizing_dequantized_parameters_gives_them_back():
    from quantize.fleet_average import dequantize, region_tensors, requantize
    from quantize.lower import lower_tflite
    from quantize.models import load_reference_model
    from quantize.tflite_model import parse_tflite
    from quantize.training.step import trainable_region
    from quantize.training_plan import resolve_plan

    tflite = load_reference_model("ref").tflite_bytes()
    lowered = lower_tflite(tflite, "ref", plan=resolve_plan("demo", "ref"))
    graph = parse_tflite(tflite)
    size = max(offset + nbytes for _, offset, nbytes in lowered.trainable_layout)
    region = trainable_region(lowered.trainable_layout, size, {}, graph)
    tensors = region_tensors(graph, lowered.trainable_layout)
    assert requantize(tensors, dequantize(tensors, region), size, SEED, 1) == region
    halves = [v + 0.5 * t.scale for v, t in zip(dequantize(tensors, region), tensors)]
    rounded = requantize(tensors, halves, size, SEED, 1)
    assert rounded != region and requantize(tensors, halves, size, SEED, 1) == rounded  # seeded


@pytest.mark.emulator
@pytest.mark.slow
def test_fedadam_moves_the_global_model_by_its_own_rule(capsys, tmp_path):
    """FedAdam (Flower's) steps from the previous global model along the devices' mean change:
    its global parameters are neither the initial ones nor FedAvg's average, and every device
    holds them after the write."""
    capsys.readouterr()
    code = cli.main(["fleet", "--devices", "2", "--rounds", "1", "--plan", "demo", "--limit", "12", "--test-limit", "8",
                     "--seed", str(SEED), "--strategy", "fedadam", "--out", str(tmp_path), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    (round_,) = json.loads(out)["rounds"]
    devices = [_region(tmp_path / f"device-{d}-round-1.ckpt") for d in (0, 1)]
    fedavg = _documented_average(devices, [d["samples"] for d in round_["devices"]], 1)
    global_ = _region(tmp_path / "global-round-1.ckpt")
    assert global_ != fedavg and global_ not in devices
    assert round_["global_crc"] == f"0x{zlib.crc32(global_):08x}"
