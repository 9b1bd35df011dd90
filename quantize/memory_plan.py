"""Arena layout from tensor lifetimes, the way TFLM's GreedyMemoryPlanner does it.

Every activation tensor is a buffer (size, first_use, last_use), in operator indices. Buffers are
placed largest first, each at the lowest offset where it overlaps no already-placed buffer whose
lifetime intersects its own. Tensors that may share storage (a RESHAPE's output is its input's
bytes) are planned as one buffer with the union of their lifetimes.
"""

from __future__ import annotations

from dataclasses import dataclass

ALIGNMENT = 16  # bytes; keeps every tensor word-aligned for the SIMD loads of the DSP kernels


@dataclass(frozen=True)
class Buffer:
    name: str
    size: int
    first_use: int  # index of the op that writes it (-1: the graph input, written before op 0)
    last_use: int   # index of the last op that reads it (num_ops: a graph output, read after)


@dataclass
class MemoryPlan:
    offsets: dict[str, int]
    arena_size: int
    buffers: list[Buffer]

    def describe(self) -> str:
        """A table of the plan, largest buffer first (like TFLM's PrintMemoryPlan)."""
        rows = [f"arena {self.arena_size} bytes"]
        for buf in sorted(self.buffers, key=lambda b: -b.size):
            rows.append(f"  {buf.name:<32} {buf.size:>8} B at {self.offsets[buf.name]:>8}  ops {buf.first_use}..{buf.last_use}")
        return "\n".join(rows)


def _align(value: int) -> int:
    return (value + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT


def _lifetimes_intersect(a: Buffer, b: Buffer) -> bool:
    return a.first_use <= b.last_use and b.first_use <= a.last_use


def plan_memory(buffers: list[Buffer]) -> MemoryPlan:
    """Greedy largest-first placement; deterministic (ties broken by first use, then name)."""
    placed: list[tuple[Buffer, int]] = []
    offsets: dict[str, int] = {}
    for buf in sorted(buffers, key=lambda b: (-b.size, b.first_use, b.name)):
        conflicts = sorted(
            (offset, offset + _align(other.size)) for other, offset in placed if _lifetimes_intersect(buf, other)
        )
        candidate = 0
        for start, end in conflicts:
            if candidate + _align(buf.size) <= start:
                break
            candidate = max(candidate, end)
        offsets[buf.name] = candidate
        placed.append((buf, candidate))
    arena = max((offset + _align(buf.size) for buf, offset in placed), default=0)
    return MemoryPlan(offsets, arena, list(buffers))


def find_overlaps(plan: MemoryPlan) -> list[tuple[str, str]]:
    """Pairs of buffers that are alive at the same time and share bytes (empty for a valid plan)."""
    clashes = []
    bufs = plan.buffers
    for i, a in enumerate(bufs):
        for b in bufs[i + 1:]:
            if not _lifetimes_intersect(a, b):
                continue
            a0, b0 = plan.offsets[a.name], plan.offsets[b.name]
            if a0 < b0 + b.size and b0 < a0 + a.size:
                clashes.append((a.name, b.name))
    return clashes
