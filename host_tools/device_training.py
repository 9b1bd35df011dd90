"""One training run on an emulated board, checked against the host: build the firmware with the
model and plan, boot it, measure the device's accuracy, train it one sample at a time, measure
again, while the golden reference simulates the same run in a second process; then compare the
two step by step (loss, prediction) and byte for byte (the trainable region). `mcutrain demo` and
`mcutrain bench accuracy` are this run with different defaults."""

from __future__ import annotations

import multiprocessing
import time
import zlib
from dataclasses import dataclass
from typing import Callable

import numpy as np

from host_tools.protocol.metrics import Running


@dataclass
class TrainingRun:
    board: str
    build_line: str            # the build's flash and RAM use
    before: Running            # device accuracy before training
    after: Running             # device accuracy after training
    steps: int
    losses_q16: list[int]
    instructions: list[int]    # per TRAIN step
    peak_sram_bytes: int
    ram_budget_bytes: int
    golden_accuracy: float     # the golden model after the simulated run, on the same test samples
    golden_steps_equal: int    # steps whose loss and prediction the device and the golden share
    device_crc: int
    golden_crc: int
    train_seconds: float       # wall time of the TRAIN steps (host, link and emulator together)
    static_ram_bytes: int      # the image's static data, the arena and trainable copy included (INFO)
    arena_bytes: int
    trainable_bytes: int

    @property
    def bit_exact(self) -> bool:
        return self.golden_steps_equal == self.steps and self.device_crc == self.golden_crc


def run_on_emulator(board: str, model, train, test, plan, epochs: int, seed: int, no_progress: bool,
                    say: Callable[[str], None] = print, metrics=None) -> TrainingRun:
    """`model`: a HostModel (its blob is the plan's); `plan`: the TrainingPlan whose lr_at gives the
    rates; `metrics`: a MetricsCsv that gets one row per training step."""
    from host_tools.banner import read_banner
    from host_tools.commands.eval import evaluate
    from host_tools.commands.infer import check_device_model
    from host_tools.commands.train import sample_order, train_on_device
    from host_tools.emulator import Emulator
    from host_tools.firmware_build import build_with_model
    from host_tools.protocol.session import Session
    from quantize.blob import read_header
    from quantize.lower import lower_tflite

    order = sample_order(len(train), epochs, seed, True)
    result = build_with_model(board, model.tflite, model.name, model.origin, plan=model.plan)
    say(f"built {result.usage_line()}")
    layout = lower_tflite(model.tflite, model.name, plan=model.plan).trainable_layout
    golden = _Forked(simulate_golden_run, model.tflite, plan, layout, read_header(model.blob)["trainable_size"], train.x,
                     train.y, order, seed, test.x, test.y)
    with golden:
        with Emulator(board, result.elf) as emulator:
            link = emulator.connect()
            read_banner(link)
            say(f"booted in QEMU {emulator.target.qemu_machine}, serial port {emulator.url}")
            with Session(link, url=emulator.url) as device:
                info = device.info()
                check_device_model(info, model)
                before = evaluate(device, info, test, None, no_progress)
                say(f"accuracy before training {before.accuracy:.4f} on {test.description}")
                say(f"training on the device: {len(order)} steps ({epochs} epoch(s) of {train.description}) ...")
                started = time.monotonic()
                trained = train_on_device(device, info, train, epochs, plan.lr_at, seed, True, metrics, no_progress)
                train_seconds = time.monotonic() - started
                device_crc = device.trainable_crc()[1]
                stats = device.stats()
                after = evaluate(device, info, test, None, no_progress)
                say(f"accuracy after training {after.accuracy:.4f} on {test.description}")
        simulated = golden.result()
    equal = int(np.sum((np.asarray(trained.losses_q16) == simulated["losses"])
                       & (np.asarray(trained.predicted) == simulated["predicted"])))
    return TrainingRun(board, result.usage_line(), before, after, len(order), trained.losses_q16,
                       trained.instructions, stats.peak_sram_last_step, info.ram_budget, simulated["accuracy"],
                       equal, device_crc, simulated["crc"], train_seconds, info.static_ram, info.arena_bytes,
                       info.trainable_bytes)


class _Forked:
    """fn(*args) in a forked process (numpy only), as a context: result() waits for its value; on
    leaving the context early (an error, Ctrl-C) the process is killed, so no worker outlives the run."""

    def __init__(self, fn, *args):
        context = multiprocessing.get_context("fork")
        self._receive, send = context.Pipe(duplex=False)
        self._process = context.Process(target=_send_result, args=(send, fn, args), daemon=True)
        self._process.start()
        send.close()

    def result(self):
        try:
            ok, value = self._receive.recv()
        except EOFError:
            raise RuntimeError(f"the golden reference's process died (exit code {self._process.exitcode})") from None
        if not ok:
            raise RuntimeError(f"the golden reference failed: {value}")
        return value

    def __enter__(self) -> "_Forked":
        return self

    def __exit__(self, *exc) -> None:
        if self._process.is_alive():
            self._process.kill()
        self._process.join()
        self._receive.close()


def _send_result(send, fn, args) -> None:
    try:
        send.send((True, fn(*args)))
    except BaseException as err:  # reported in the parent, which owns the error handling
        send.send((False, f"{type(err).__name__}: {err}"))


def simulate_golden_run(tflite, plan, layout, region_size, x, y, order, seed, test_x, test_y) -> dict:
    """The golden run (run_on_emulator's worker process; `bench fleet --golden`): per-step losses and
    predictions, the final region's CRC, and the trained golden model's test accuracy."""
    from quantize.training.simulate import golden_accuracy, simulate_training

    run = simulate_training(tflite, plan, layout, region_size, x, y, order, plan.lr_at, seed, plan.qas)
    return {"losses": run.losses_q16, "predicted": run.predicted, "crc": zlib.crc32(run.region),
            "accuracy": golden_accuracy(run.trainer, test_x, test_y)}


def agreement_line(run: TrainingRun) -> str:
    regions = "bit-exact" if run.device_crc == run.golden_crc else "DIFFERENT"
    return (f"host golden reference agrees: {run.golden_steps_equal}/{run.steps} steps (loss, prediction) equal, "
            f"final trainable parameters {regions} (CRC-32 0x{run.device_crc:08x})")


def fp32_baseline(model_name: str, data: str, plan, epochs: int, limit: int | None, test_limit: int | None) -> float:
    """TensorFlow fp32 fine-tuning of the same parameters with the same rates and epochs
    (quantize/finetune.py, `mcutrain baseline --update plan:`)."""
    import tempfile
    from pathlib import Path

    from quantize.finetune import run_baseline

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "plan.json"
        path.write_text(plan.to_json())
        return run_baseline(model_name, data, f"plan:{path}", epochs=epochs, limit=limit,
                            test_limit=test_limit).test_accuracy
