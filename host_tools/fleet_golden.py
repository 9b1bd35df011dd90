"""A fleet simulated on the host by the golden reference (`mcutrain bench fleet --golden`).

The same rounds as `mcutrain fleet` (host_tools/fleet.py), with each device's part played by a
GoldenTrainer: the same partition, shards, local seeds and rates (host_tools/fleet_client.py), the
same averaging (Flower's strategy in process, quantize/fleet_average.py), so each device's trained
region and each round's global region are the ones an emulated fleet produces, bit for bit
(tests/test_fleet.py checks them against the devices' checkpoints). No device, no emulator: it
answers in minutes what a fleet setting (local epochs, partition, strategy) gives, before a fleet
of devices spends an hour on it.
"""

from __future__ import annotations

import zlib


def simulate_fleet(model, train, test, devices: int, rounds: int, local_epochs: int, lr: float | None, seed: int,
                   strategy: str, partition_scheme: tuple[str, float | None]) -> dict:
    """{"rounds": [{"round", "global_accuracy", "global_crc", "device_crcs"}], "samples_per_device", "region_bytes"}:
    the fleet's rounds as the golden reference computes them."""
    from flwr.common import Code, FitRes, Status, ndarrays_to_parameters, parameters_to_ndarrays

    from host_tools.commands.train import run_plan, sample_order
    from host_tools.fleet import strategy_options
    from host_tools.fleet_client import local_rates, local_seed
    from host_tools.fleet_partition import partition
    from quantize.fleet_average import dequantize, fleet_region, requantize
    from quantize.training.program import derive_program
    from quantize.training.schedule import segment_rate
    from quantize.training.simulate import golden_accuracy
    from quantize.training.step import GoldenTrainer, trainable_region

    region = fleet_region(model.tflite, model.name, model.plan)
    graph, layout, size, tensors = region.graph, region.layout, region.size, region.tensors
    program = derive_program(graph, model.training_plan, model.training_plan.qas)
    rate = lr if lr is not None else model.training_plan.lr
    shares = partition(train.y, devices, *partition_scheme, seed)
    global_region = region.initial()
    base, options = strategy_options(strategy, devices, dequantize(tensors, global_region), rate)
    server = base(**options)
    # Each device's schedule runs over its steps in all rounds (as its client's run_plan).
    device_rates = [run_plan(model.training_plan, lr, None, rounds * len(share) * local_epochs).lr_at
                    for share in shares]

    def trainer_holding(trained: bytes) -> GoldenTrainer:
        trainer = GoldenTrainer(graph, program, 1)
        trainer.load_region(layout, trained)
        return trainer

    report = []
    for server_round in range(1, rounds + 1):
        fits, device_crcs = [], {}
        for device, share in enumerate(shares):
            x, y = train.x[share], train.y[share]
            lr_at = local_rates(device_rates[device], server_round, len(share) * local_epochs)
            trainer = trainer_holding(global_region)
            device_seed = local_seed(seed, device, server_round)
            trainer.configure(device_seed)
            for step, index in enumerate(sample_order(len(share), local_epochs, device_seed, True)):
                trainer.step(x[index], int(y[index]), segment_rate(lr_at, step))
            trained = trainable_region(layout, size, trainer.params, graph)
            device_crcs[device] = zlib.crc32(trained)
            fits.append((None, FitRes(Status(Code.OK, ""), ndarrays_to_parameters(dequantize(tensors, trained)),
                                      len(share), {})))
        aggregated, _ = server.aggregate_fit(server_round, fits, [])
        global_region = requantize(tensors, parameters_to_ndarrays(aggregated), size, seed, server_round)
        report.append({"round": server_round,
                       "global_accuracy": golden_accuracy(trainer_holding(global_region), test.x, test.y),
                       "global_crc": f"0x{zlib.crc32(global_region):08x}",
                       "device_crcs": {str(d): f"0x{crc:08x}" for d, crc in device_crcs.items()}})
    return {"rounds": report, "samples_per_device": [len(s) for s in shares], "region_bytes": size}
