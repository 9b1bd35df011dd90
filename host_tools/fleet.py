"""A fleet of devices fine-tuned together with Flower (README "Fleets").

The Flower server runs in this process on 127.0.0.1 (Flower's gRPC server, its own strategies:
FedAvg, or FedAdam); one client process per device (host_tools/fleet_client.py) owns that device,
an emulator it starts or a port. The train split is partitioned across the devices
(host_tools/fleet_partition.py) and the test split shared out, so that the global model's accuracy
is measured on the devices, on the whole test split, after every round.

Every round leaves a checkpoint of the global parameters (`mcutrain checkpoint load` takes it) and
of each device's trained parameters in the output folder, with a CSV and a plot. No process
outlives the run: the clients die with this process (PR_SET_PDEATHSIG) and their emulators with
them, and on Ctrl-C or an error the clients are stopped before the command returns.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from host_tools.errors import McutrainError

ROUND_TIMEOUT_S = 1800      # a round whose devices hang is cut off (its missing devices count as dropped)
CLIENT_STOP_TIMEOUT_S = 10
CSV_COLUMNS = ("round", "device", "samples", "local_accuracy", "local_loss", "bytes_sent", "dropped",
               "global_accuracy", "seconds")


@dataclass
class FleetSettings:
    devices: int
    rounds: int
    local_epochs: int
    lr: float | None            # None: the plan's; its schedule runs over each device's steps in all rounds
    seed: int
    strategy: str               # "fedavg" | "fedadam"
    model_spec: str             # --model and --plan as given: each client resolves them itself
    plan_spec: str | None
    board: str | None
    elf: Path | None            # the emulated boards' firmware, built once for all devices
    ports: list[str] | None
    out: Path
    drop: tuple[int, int] | None = None   # (device, round): its emulator is killed in that round
    no_progress: bool = False


@dataclass
class RoundRecord:
    round: int
    devices: list[dict] = field(default_factory=list)   # fit metrics of the devices that reported
    dropped: list[int] = field(default_factory=list)
    global_accuracy: float | None = None
    global_crc: int | None = None
    device_crcs: dict[int, int] = field(default_factory=dict)  # the region each device holds after the global write
    seconds: float = 0.0

    def as_json(self) -> dict:
        return {"round": self.round, "global_accuracy": self.global_accuracy,
                "global_crc": f"0x{self.global_crc:08x}" if self.global_crc is not None else None,
                "devices": self.devices, "dropped": self.dropped,
                "bytes_sent_per_device": {str(d["device"]): d["bytes_sent"] for d in self.devices},
                "seconds": round(self.seconds, 2)}


def _recording_strategy(base, records: list[RoundRecord], save, devices: int, progress):
    """`base` (a Flower strategy class) recording every round, saving its checkpoints."""

    class Recording(base):
        def configure_fit(self, server_round, parameters, client_manager):
            records.append(RoundRecord(server_round))
            self._started = time.monotonic()
            return super().configure_fit(server_round, parameters, client_manager)

        def aggregate_fit(self, server_round, results, failures):
            from flwr.common import parameters_to_ndarrays

            record = records[-1]
            for _, fit in results:
                metrics = dict(fit.metrics)
                metrics["samples"] = fit.num_examples
                record.devices.append(metrics)
                save(f"device-{metrics['device']}-round-{server_round}", parameters_to_ndarrays(fit.parameters),
                     None)
            record.devices.sort(key=lambda m: m["device"])
            reported = {m["device"] for m in record.devices}
            record.dropped = [d for d in range(devices) if d not in reported]
            aggregated, metrics = super().aggregate_fit(server_round, results, failures)
            if aggregated is not None:
                record.global_crc = save(f"global-round-{server_round}", parameters_to_ndarrays(aggregated),
                                         server_round)
            return aggregated, metrics

        def aggregate_evaluate(self, server_round, results, failures):
            record = records[-1]
            total = sum(r.num_examples for _, r in results)
            if total:
                record.global_accuracy = sum(r.metrics["accuracy"] * r.num_examples for _, r in results) / total
            record.device_crcs = {int(r.metrics["device"]): int(r.metrics["device_crc"]) for _, r in results}
            record.seconds = time.monotonic() - self._started
            progress(record)
            return super().aggregate_evaluate(server_round, results, failures)

    return Recording


def run_fleet(settings: FleetSettings, model, train, test, partition_scheme: tuple[str, float | None]) -> dict:
    """Runs the fleet; returns the report (the command's JSON)."""
    # gRPC's own log (a note at every fork of a client process) stays quiet; set before it loads.
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    import flwr as fl
    from tqdm import tqdm

    from host_tools.commands.checkpoint import Checkpoint
    from host_tools.fleet_partition import partition
    from quantize.fleet_average import dequantize, fleet_region, requantize

    trainable = fleet_region(model.tflite, model.name, model.plan)
    tensors, region_size = trainable.tensors, trainable.size
    rate = settings.lr if settings.lr is not None else model.training_plan.lr
    shares = partition(train.y, settings.devices, *partition_scheme, settings.seed)
    test_shares = np.array_split(np.arange(len(test)), settings.devices)
    settings.out.mkdir(parents=True, exist_ok=True)

    def save(name: str, arrays, produced_in_round: int | None) -> int:
        region = requantize(tensors, arrays, region_size, settings.seed, produced_in_round or 0)
        (settings.out / f"{name}.ckpt").write_bytes(Checkpoint(model.name, model.blob_hash, region).to_bytes())
        return zlib.crc32(region)

    records: list[RoundRecord] = []
    bar = tqdm(total=settings.rounds, desc="rounds", unit="round", disable=settings.no_progress, leave=False)

    def progress(record: RoundRecord) -> None:
        accuracy = f"{record.global_accuracy:.3f}" if record.global_accuracy is not None else "-"
        bar.set_postfix(acc=accuracy, dropped=len(record.dropped), refresh=False)
        bar.update(1)

    base, options = strategy_options(settings.strategy, settings.devices, dequantize(tensors, trainable.initial()),
                                     rate)
    strategy = _recording_strategy(base, records, save, settings.devices, progress)(**options)

    from host_tools.emulator import free_port

    address = f"127.0.0.1:{free_port()}"
    quiet_flower()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mcutrain-fleet-") as folder, _Clients(lambda: bool(records)) as clients:
        for device, (share, test_share) in enumerate(zip(shares, test_shares)):
            shard = Path(folder) / f"device-{device}.npz"
            np.savez(shard, train_x=train.x[share], train_y=train.y[share], test_x=test.x[test_share],
                     test_y=test.y[test_share])
            clients.start(device, _client_command(settings, model, device, shard, address), settings.out)
        clients.watch()
        try:
            fl.server.start_server(server_address=address, strategy=strategy,
                                   config=fl.server.ServerConfig(num_rounds=settings.rounds,
                                                                 round_timeout=ROUND_TIMEOUT_S))
        except SystemExit:  # Flower's signal handler exits: a device's failure (watch) or Ctrl-C
            clients.check()
            raise KeyboardInterrupt from None
        clients.check()
    bar.close()
    for record in records:
        held = {d: crc for d, crc in record.device_crcs.items() if crc != record.global_crc}
        if held:
            device, crc = next(iter(held.items()))
            raise McutrainError(f"round {record.round}: device {device} holds parameters with CRC 0x{crc:08x} after "
                                f"the global write, not the global model's 0x{record.global_crc:08x}")
    rounds = [r.as_json() for r in records]
    for before, now in zip(rounds, rounds[1:]):
        now["rejoined"] = [d for d in before["dropped"] if str(d) in now["bytes_sent_per_device"]]
    report = {"model": model.name, "devices": settings.devices, "rounds": rounds,
              "strategy": settings.strategy, "local_epochs": settings.local_epochs, "learning_rate": rate,
              "lr_schedule": model.training_plan.lr_schedule.kind,
              "samples_per_device": [len(s) for s in shares], "test_samples": len(test),
              "region_bytes": region_size, "seed": settings.seed, "seconds": round(time.monotonic() - started, 1),
              "out": str(settings.out)}
    _write_csv(settings.out / "fleet.csv", records)
    _plot(settings.out / "fleet.png", records, settings.devices)
    (settings.out / "fleet.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def strategy_options(name: str, devices: int, initial: list[np.ndarray], rate: float) -> tuple[type, dict]:
    """Flower's strategy class `name` ("fedavg" | "fedadam") and its settings for a fleet of
    `devices` starting from `initial` (the region's real values), `rate` the devices' learning rate."""
    import flwr as fl
    from flwr.common import ndarrays_to_parameters

    base = {"fedavg": fl.server.strategy.FedAvg, "fedadam": fl.server.strategy.FedAdam}[name]
    # Every round waits for all devices to be connected and samples them all; a device that fails in
    # the round is left out of its average (accept_failures) and reported as dropped.
    options = dict(fraction_fit=1.0, fraction_evaluate=1.0, min_fit_clients=devices, min_evaluate_clients=devices,
                   min_available_clients=devices, accept_failures=True,
                   initial_parameters=ndarrays_to_parameters(initial),
                   on_fit_config_fn=lambda r: {"server_round": r},
                   on_evaluate_config_fn=lambda r: {"server_round": r},
                   fit_metrics_aggregation_fn=lambda metrics: {},
                   evaluate_metrics_aggregation_fn=lambda metrics: {})
    if name == "fedadam":
        options.update(eta=1e-2, eta_l=rate, tau=1e-9)
    return base, options


def quiet_flower() -> None:
    """Flower's log: errors only (its INFO lines and the legacy API's deprecation notices would bury
    the progress bar; the report says what happened per round)."""
    import logging

    from flwr.common.logger import FLOWER_LOGGER

    FLOWER_LOGGER.setLevel(logging.ERROR)


def _client_command(settings: FleetSettings, model, device: int, shard: Path, address: str) -> list[str]:
    command = [sys.executable, "-m", "host_tools.fleet_client", "--server", address, "--device-id", str(device),
               "--shard", str(shard), "--model", settings.model_spec, "--seed", str(settings.seed),
               "--local-epochs", str(settings.local_epochs), "--rounds", str(settings.rounds)]
    if settings.lr is not None:
        command += ["--lr", repr(settings.lr)]
    if settings.plan_spec:
        command += ["--plan", settings.plan_spec]
    if settings.ports:
        command += ["--port", settings.ports[device]]
    else:
        command += ["--board", settings.board, "--elf", str(settings.elf)]
    if settings.drop and settings.drop[0] == device:
        command += ["--kill-round", str(settings.drop[1])]
    return command


class _Clients:
    """The client processes: each in its own process group, dying with this process; stopped
    (SIGTERM, then SIGKILL) on leaving the context, whatever the reason. A client that exits with
    an error once the rounds have begun (its device failed) is started again, so that its device
    rejoins; one that fails before (it could not open its device) stops the fleet."""

    def __init__(self, rounds_begun: Callable[[], bool]):
        self.rounds_begun = rounds_begun
        self.processes: dict[int, subprocess.Popen] = {}
        self.commands: dict[int, list[str]] = {}
        self.logs: dict[int, Path] = {}
        self.restarts: dict[int, int] = {}
        self.failure: str | None = None
        self._done = threading.Event()

    def start(self, device: int, command: list[str], folder: Path) -> None:
        from host_tools.emulator import die_with_parent

        self.commands[device] = command
        self.logs[device] = folder / f"device-{device}.log"
        with self.logs[device].open("a") as log:
            self.processes[device] = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                                      stdin=subprocess.DEVNULL, preexec_fn=die_with_parent,
                                                      process_group=0)

    def watch(self) -> None:
        def loop():
            while not self._done.wait(0.5):
                for device, process in list(self.processes.items()):
                    if process.poll() in (None, 0):
                        continue
                    if self.rounds_begun():
                        self.restarts[device] = self.restarts.get(device, 0) + 1
                        rejoin = [arg for arg in self.commands[device]]
                        if "--kill-round" in rejoin:  # the fault was injected once
                            del rejoin[rejoin.index("--kill-round"):rejoin.index("--kill-round") + 2]
                        self.start(device, rejoin, self.logs[device].parent)
                        continue
                    # Flower's exit handler takes SIGINT: the server stops, and check() reports why.
                    self.failure = f"device {device}: {self.last_line(device)}"
                    self._done.set()
                    os.kill(os.getpid(), signal.SIGINT)
                    return
        threading.Thread(target=loop, daemon=True).start()

    def last_line(self, device: int) -> str:
        lines = [line for line in self.logs[device].read_text(errors="replace").splitlines()
                 if line.strip() and not line.startswith((" ", "\t", "Traceback", "\x1b"))]
        return lines[-1].strip() if lines else f"its client exited with code {self.processes[device].returncode}"

    def check(self) -> None:
        if self.failure:
            raise McutrainError(self.failure)

    def __enter__(self) -> "_Clients":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._done.set()
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + CLIENT_STOP_TIMEOUT_S
        for process in self.processes.values():
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _write_csv(path: Path, records: list[RoundRecord]) -> None:
    from host_tools.protocol.metrics import MetricsCsv

    with MetricsCsv(path, CSV_COLUMNS) as csv:
        for record in records:
            for d in record.devices:
                csv.write(round=record.round, device=d["device"], samples=d["samples"],
                          local_accuracy=f"{d['local_accuracy']:.6f}", local_loss=f"{d['local_loss']:.6f}",
                          bytes_sent=d["bytes_sent"], dropped=0, global_accuracy=record.global_accuracy,
                          seconds=f"{record.seconds:.2f}")
            for device in record.dropped:
                csv.write(round=record.round, device=device, samples=0, local_accuracy="", local_loss="",
                          bytes_sent=0, dropped=1, global_accuracy=record.global_accuracy,
                          seconds=f"{record.seconds:.2f}")


def _plot(path: Path, records: list[RoundRecord], devices: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    rounds = [r.round for r in records]
    ax.plot(rounds, [r.global_accuracy for r in records], "o-", color="black", label="global (test split)")
    for device in range(devices):
        points = [(r.round, d["local_accuracy"]) for r in records for d in r.devices if d["device"] == device]
        if points:
            ax.plot(*zip(*points), ".--", alpha=0.6, label=f"device {device} (local)")
    ax.set_xlabel("round")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
