"""The energy of one training step on the real board behind a target, estimated from its
instructions and its memory traffic (the training-energy view of DESIGN.md).

    energy = core + memory
    core   = instructions * CYCLES_PER_INSTRUCTION / f_clock * I_run * V_DD
    memory = flash bytes read * e_flash + SRAM bytes read * e_sram_read + SRAM bytes written * e_sram_write

The core term is the datasheet's run-mode supply current: the whole chip running code from flash
with its data in SRAM, so it already contains the energy of the core's own memory accesses. The
memory term prices the step's compulsory traffic (quantize/planning/traffic.py) at the energy per
access of on-chip memories published for a 45 nm process; it is shown apart so that plans can be
compared by what they move, and it counts some energy twice. At these figures the core term is
thousands of times the memory term (ref's demo plan: 13.7 mJ against 2 uJ): the survey's "memory
traffic dominates" holds for accelerators with DRAM, not for a Cortex-M running from on-chip
memories, where the whole chip's current per cycle is what a step pays for.

Every figure below is a named constant with its source; `sources` carries them into the output.
"""

from __future__ import annotations

from dataclasses import dataclass

from quantize.errors import QuantizeError
from quantize.planning.traffic import Traffic


class EnergyModelError(QuantizeError):
    """A board the energy model has no figures for."""


# One instruction per clock cycle: QEMU counts instructions, not cycles. The Cortex-M7 issues two
# instructions per cycle at best and stalls on flash wait states and loads; the Cortex-M4 runs most
# integer and DSP (SMLAD) instructions in one cycle, loads in two. 1.0 is an assumption, not a
# measurement: the core energy scales with it.
CYCLES_PER_INSTRUCTION = 1.0


@dataclass(frozen=True)
class BoardPower:
    real_board: str       # "STM32F746 at 216 MHz"
    clock_hz: float
    run_current_a: float  # typical supply current in run mode at clock_hz
    supply_v: float       # V_DD the current is given at
    source: str

    @property
    def joules_per_cycle(self) -> float:
        return self.run_current_a * self.supply_v / self.clock_hz


# STM32F746: ST datasheet DS10916 (STM32F745xx/STM32F746xx), section 6.3.6 "Supply current
# characteristics", table "Typical and maximum current consumption in Run mode, code with data
# processing running from Flash memory (ART ON except prefetch / L1-cache ON)", f_HCLK = 216 MHz,
# all peripherals disabled, T_A = 25 C, typical 102 mA at V_DD = 3.3 V. Not read from the datasheet
# here (the search tool's corpus holds the part's overview pages, not this table); cross-checked
# only roughly: a third-party chip model found with the search tool fits DS10916 section 6.3.6 as
# 5 mA + 0.5 mA/MHz with every peripheral clocked, 113 mA at 216 MHz, 11% above this figure, as
# clocked peripherals would be. Check the datasheet before quoting the energy to better than that.
STM32F746 = BoardPower(
    "STM32F746 (Cortex-M7) at 216 MHz", 216e6, 0.102, 3.3,
    "STM32F746: ST DS10916, Supply current characteristics, Run mode from flash (ART and L1-cache on), "
    "216 MHz, all peripherals disabled, typical 102 mA at VDD 3.3 V (not read from the datasheet here; a third-party "
    "fit of the same table gives 113 mA with every peripheral clocked)")

# STM32F405: ST datasheet DS8626 (STM32F405xx/STM32F407xx), section 5.3.6 "Supply current
# characteristics", table "Typical and maximum current consumption in Run mode, code with data
# processing running from Flash memory (ART accelerator enabled except prefetch)", f_HCLK = 168 MHz,
# all peripherals disabled, T_A = 25 C, typical 40 mA at V_DD = 3.3 V. The search tool found the
# datasheet's pages 76-77 (operating conditions: 168 MHz with VOS = 1, V_DD 1.8 to 3.6 V) but not
# this table; the figure is corroborated by a third-party note quoting it (lendzeg/stm32f405-devboard
# docs/power_consumption.md: "Table 20 ... Run mode, 168 MHz, TA = 25 C, peripherals disabled,
# Icore = 40 mA (approx)").
STM32F405 = BoardPower(
    "STM32F405 (Cortex-M4) at 168 MHz", 168e6, 0.040, 3.3,
    "STM32F405: ST DS8626, Table 20, Run mode from flash (ART accelerator on), 168 MHz, all peripherals disabled, "
    "typical 40 mA at VDD 3.3 V (not read from the datasheet here; a third-party note quoting Table 20 agrees)")

BOARD_POWER: dict[str, BoardPower] = {
    "qemu-m7": STM32F746,           # the emulator stands in for the STM32F746 (DESIGN.md, Targets)
    "stm32f746g-disco": STM32F746,
    "qemu-stm32f405": STM32F405,
}


@dataclass(frozen=True)
class MemoryEnergy:
    flash_read_pj_per_byte: float
    sram_read_pj_per_byte: float
    sram_write_pj_per_byte: float
    source: str


# M. Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014, the table of
# energy per operation at 45 nm, 0.9 V: a 64-bit access of an 8 KB SRAM (cache) 10 pJ, of 32 KB
# 20 pJ, of 1 MB 100 pJ. Verified through the search tool for the 8 KB row only (PMC8934428,
# Table 3, quotes "8 kB 64-bit wide cache access" at 10 pJ from Horowitz 45 nm 0.9 V); the 32 KB and
# 1 MB rows are quoted from the same table without that check. The table gives one figure per
# access, read or write, and none for flash. Here: SRAM reads and writes at the 32 KB row (the
# STM32s' SRAM is banks of 16 to 240 KB), 20 pJ / 8 bytes; flash reads at the 1 MB row (both boards
# have 1 MB of flash), 100 pJ / 8 bytes, a stand-in for an array of that size, which understates
# an embedded flash read. The boards' processes (90 nm) spend more per access than 45 nm.
HOROWITZ_45NM = MemoryEnergy(
    100 / 8, 20 / 8, 20 / 8,
    "memory: Horowitz, ISSCC 2014, 'Computing's energy problem', 45 nm 0.9 V energy per 64-bit access: "
    "SRAM read and write at the 32 KB row (20 pJ, 2.5 pJ/byte), flash read at the 1 MB SRAM row "
    "(100 pJ, 12.5 pJ/byte; the table has no flash figure); only the 8 KB row (10 pJ) verified here")


@dataclass(frozen=True)
class EnergyEstimate:
    total_uj: float
    core_uj: float
    memory_uj: float
    real_board: str
    sources: list[str]
    instructions: int = 0
    seconds: float = 0.0        # the step's time on the real board at CYCLES_PER_INSTRUCTION
    flash_read_uj: float = 0.0
    sram_read_uj: float = 0.0
    sram_write_uj: float = 0.0

    def to_json(self) -> dict:
        return {"total_uj": round(self.total_uj, 3), "core_uj": round(self.core_uj, 3),
                "memory_uj": round(self.memory_uj, 3), "flash_read_uj": round(self.flash_read_uj, 3),
                "sram_read_uj": round(self.sram_read_uj, 3), "sram_write_uj": round(self.sram_write_uj, 3),
                "instructions": self.instructions, "seconds": round(self.seconds, 6),
                "real_board": self.real_board, "sources": list(self.sources)}


def board_power(board: str) -> BoardPower:
    try:
        return BOARD_POWER[board]
    except KeyError:
        raise EnergyModelError(f"board {board!r}: the energy model has figures for "
                               f"{', '.join(BOARD_POWER)}") from None


def energy_sources(board: str) -> list[str]:
    """The figures an estimate on `board` uses, each with its source."""
    power = board_power(board)
    return [power.source, HOROWITZ_45NM.source,
            f"core: {CYCLES_PER_INSTRUCTION:g} cycle per instruction (assumed; QEMU -icount counts instructions)"]


def energy_of(board: str, instructions: int, traffic: Traffic, memory: MemoryEnergy = HOROWITZ_45NM) -> EnergyEstimate:
    """The energy of `instructions` and `traffic` on the real board behind `board`."""
    power = board_power(board)
    cycles = instructions * CYCLES_PER_INSTRUCTION
    core_uj = cycles * power.joules_per_cycle * 1e6
    flash_uj = traffic.flash_read * memory.flash_read_pj_per_byte * 1e-6
    read_uj = traffic.sram_read * memory.sram_read_pj_per_byte * 1e-6
    write_uj = traffic.sram_write * memory.sram_write_pj_per_byte * 1e-6
    memory_uj = flash_uj + read_uj + write_uj
    return EnergyEstimate(core_uj + memory_uj, core_uj, memory_uj, power.real_board, energy_sources(board),
                          int(instructions), cycles / power.clock_hz, flash_uj, read_uj, write_uj)


def estimate_step_energy(board: str, tflite: bytes, model_name: str, plan, instructions: int) -> EnergyEstimate:
    """The energy of one training step of the model compiled with `plan` (a TrainingPlan; None: the
    default, the classifier head) on the real board behind `board`, from its measured `instructions`
    and its memory traffic."""
    from quantize.planning.traffic import compile_step
    from quantize.tflite_model import parse_tflite
    from quantize.training_plan import head_plan

    board_power(board)  # an unknown board fails before the compilation
    plan = plan if plan is not None else head_plan(parse_tflite(tflite))
    return energy_of(board, instructions, compile_step(tflite, model_name, plan).traffic.traffic)
