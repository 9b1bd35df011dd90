"""One device of a fleet: a Flower client process (`mcutrain fleet` starts one per device).

It owns one device session, an emulator it starts (--board, --elf) or a port (--port), and
answers the Flower server on 127.0.0.1:
    fit       write the global parameters (CHECKPOINT_WRITE), TRAIN on the local shard, read the
              trained region back (CHECKPOINT_READ) and return it dequantized;
    evaluate  write the global parameters and measure the device's accuracy on its test shard.
Only the trainable region crosses the link (quantize/fleet_average.py). A device that fails
(its emulator killed, its port gone) ends this process with the error, as Flower's legacy client
does; the round goes on without it, and `mcutrain fleet` starts the process again, so the device
rejoins (host_tools/fleet.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

from host_tools.protocol.workload import Samples

# Fault injection (--kill-round, for the dropout test and demonstrations): after this fraction of
# its shard, the device's emulator is killed (SIGKILL), as a crash or a pulled cable would.
KILL_AFTER_FRACTION = 0.5


def local_seed(seed: int, device_id: int, server_round: int) -> int:
    """The shuffle and rounding seed of a device's training in a round (SET_CONFIG's; never 0)."""
    return (seed * 7919 + device_id * 104729 + server_round) % (2 ** 32) or 1


def local_rates(lr_at: Callable[[int], float], server_round: int, steps_per_round: int) -> Callable[[int], float]:
    """The learning rate of each step of a device's training in a round: the plan's schedule runs
    over the device's steps in all rounds, so round R continues where round R - 1 stopped."""
    offset = (server_round - 1) * steps_per_round
    return lambda step: lr_at(offset + step)


class DeviceSlot:
    """The session on one device, open for the life of the client process."""

    def __init__(self, board: str | None, elf: Path | None, port: str | None, model):
        self.board, self.elf, self.port, self.model = board, elf, port, model
        self._stack = contextlib.ExitStack()
        self.emulator = None
        self.session = None
        self.info = None

    def open(self) -> None:
        from host_tools.banner import read_banner
        from host_tools.commands.infer import check_device_model
        from host_tools.emulator import Emulator
        from host_tools.protocol.session import READ_SLICE_S, Session

        if self.port:
            self.session = self._stack.enter_context(Session.open(self.port))
        else:
            self.emulator = self._stack.enter_context(Emulator(self.board, self.elf))
            link = self.emulator.connect(timeout=READ_SLICE_S)
            read_banner(link)
            self.session = self._stack.enter_context(Session(link, url=self.emulator.url))
        self.info = self.session.info()
        check_device_model(self.info, self.model)

    def close(self) -> None:
        self._stack.close()


def _client_class():
    import flwr as fl

    from host_tools.commands.eval import evaluate
    from host_tools.commands.train import train_on_device
    from quantize.fleet_average import dequantize, requantize

    class DeviceClient(fl.client.NumPyClient):
        def __init__(self, device_id: int, slot: DeviceSlot, shard: Samples, test: Samples, tensors,
                     region_size: int, seed: int, epochs: int, lr_at, kill_round: int | None):
            self.device_id, self.slot, self.shard, self.test = device_id, slot, shard, test
            self.tensors, self.region_size, self.seed, self.epochs, self.lr_at = tensors, region_size, seed, epochs, lr_at
            self.kill_round = kill_round
            self.loaded: bytes | None = None

        def get_parameters(self, config):
            return dequantize(self.tensors, self.slot.session.checkpoint_read())

        def _load(self, parameters, produced_in_round: int) -> int:
            region = requantize(self.tensors, parameters, self.region_size, self.seed, produced_in_round)
            if region != self.loaded:
                self.slot.session.checkpoint_write(region)
                self.loaded = region
            return len(region)

        def fit(self, parameters, config):
            server_round = int(config["server_round"])
            started = time.monotonic()
            written = self._load(parameters, server_round - 1)
            device_seed = local_seed(self.seed, self.device_id, server_round)
            lr_at = local_rates(self.lr_at, server_round, len(self.shard) * self.epochs)
            if self.kill_round == server_round:
                self._kill_midway(device_seed, lr_at)
            run = train_on_device(self.slot.session, self.slot.info, self.shard, self.epochs, lr_at, device_seed,
                                  True, None, True)
            region = self.slot.session.checkpoint_read()
            self.loaded = region
            return dequantize(self.tensors, region), len(self.shard), {
                "device": self.device_id, "local_accuracy": run.running.accuracy, "local_loss": run.running.loss,
                "bytes_sent": written + len(region), "seconds": time.monotonic() - started}

        def evaluate(self, parameters, config):
            self._load(parameters, int(config["server_round"]))
            running = evaluate(self.slot.session, self.slot.info, self.test, None, True)
            crc = self.slot.session.trainable_crc()[1]
            return 0.0, len(self.test), {"device": self.device_id, "accuracy": running.accuracy, "device_crc": crc}

        def _kill_midway(self, device_seed: int, lr_at) -> None:
            """Trains on part of the shard, then kills the emulator (SIGKILL): the rest of the round fails."""
            count = max(1, int(len(self.shard) * KILL_AFTER_FRACTION))
            part = Samples(self.shard.x[:count], self.shard.y[:count], (), "part of the shard")
            train_on_device(self.slot.session, self.slot.info, part, 1, lr_at, device_seed, True, None, True)
            if self.slot.emulator is not None:
                self.slot.emulator.process.kill()
                self.slot.emulator.process.wait()

    return DeviceClient


def _samples(path: Path, prefix: str) -> Samples:
    with np.load(path) as data:
        return Samples(data[f"{prefix}_x"], data[f"{prefix}_y"], (), f"{prefix} shard")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m host_tools.fleet_client")
    parser.add_argument("--server", required=True)
    parser.add_argument("--device-id", type=int, required=True)
    parser.add_argument("--shard", type=Path, required=True, help="npz: train_x, train_y, test_x, test_y (int8)")
    parser.add_argument("--model", required=True)
    parser.add_argument("--plan")
    parser.add_argument("--board")
    parser.add_argument("--elf", type=Path)
    parser.add_argument("--port")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--local-epochs", type=int, default=1)
    parser.add_argument("--lr", type=float, help="default: the plan's")
    parser.add_argument("--rounds", type=int, required=True)
    parser.add_argument("--kill-round", type=int)
    args = parser.parse_args(argv)
    # SIGTERM (the fleet stopping) unwinds like Ctrl-C, so the emulator stops with this process.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    import flwr as fl

    from host_tools.commands.train import run_plan
    from host_tools.fleet import quiet_flower
    from host_tools.protocol.device import host_model
    from quantize.fleet_average import fleet_region

    model = host_model(args.model, args.plan)
    region = fleet_region(model.tflite, model.name, model.plan)
    quiet_flower()
    slot = DeviceSlot(args.board, args.elf, args.port, model)
    try:
        slot.open()
        print(json.dumps({"device": args.device_id, "ready": True, "model_hash": slot.info.model_hash}), flush=True)
        shard = _samples(args.shard, "train")
        plan = run_plan(model.training_plan, args.lr, None, args.rounds * len(shard) * args.local_epochs)
        client = _client_class()(args.device_id, slot, shard, _samples(args.shard, "test"), region.tensors, region.size,
                                 args.seed, args.local_epochs, plan.lr_at, args.kill_round)
        fl.client.start_client(server_address=args.server, client=client.to_client(), insecure=True)
    finally:
        slot.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
