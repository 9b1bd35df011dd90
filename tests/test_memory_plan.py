"""The greedy arena planner: no two live tensors share bytes, and sharing happens when lifetimes allow."""

import random

from quantize.memory_plan import ALIGNMENT, Buffer, find_overlaps, plan_memory


def test_disjoint_lifetimes_share_the_same_bytes():
    plan = plan_memory([Buffer("a", 1000, 0, 1), Buffer("b", 1000, 2, 3)])
    assert plan.offsets["a"] == plan.offsets["b"] == 0
    assert plan.arena_size == 1008  # 1000 rounded up to the alignment


def test_overlapping_lifetimes_are_stacked_largest_first():
    plan = plan_memory([Buffer("small", 100, 0, 2), Buffer("big", 5000, 1, 3)])
    assert plan.offsets["big"] == 0
    assert plan.offsets["small"] >= 5000
    assert find_overlaps(plan) == []


def test_random_plans_never_overlap_and_stay_aligned():
    rng = random.Random(7)
    for _ in range(200):
        buffers = []
        for i in range(rng.randint(1, 12)):
            first = rng.randint(-1, 10)
            buffers.append(Buffer(f"t{i}", rng.randint(1, 4096), first, first + rng.randint(0, 5)))
        plan = plan_memory(buffers)
        assert find_overlaps(plan) == [], plan.describe()
        assert all(offset % ALIGNMENT == 0 for offset in plan.offsets.values())
        assert plan.arena_size >= max(b.size for b in buffers)
        # Never worse than giving every buffer its own bytes.
        assert plan.arena_size <= sum(-(-b.size // ALIGNMENT) * ALIGNMENT for b in buffers)


def test_find_overlaps_detects_a_bad_plan():
    plan = plan_memory([Buffer("a", 64, 0, 2), Buffer("b", 64, 1, 3)])
    plan.offsets["b"] = plan.offsets["a"]
    assert find_overlaps(plan) == [("a", "b")]


def test_element_wise_ops_run_in_place_when_an_input_dies_there():
    from quantize import blob as fmt
    from quantize.lower import lower_tflite
    from quantize.models import load_reference_model

    blob = lower_tflite(load_reference_model("ref").tflite_bytes(), "ref").blob
    header = fmt.read_header(blob)
    offsets = [fmt.TENSOR.unpack_from(blob, header["tensors_offset"] + i * fmt.TENSOR.size)[8]
               for i in range(header["num_tensors"])]
    adds = []
    for i in range(header["num_ops"]):
        opcode, _, output, in0, in1, *_ = fmt.OP.unpack_from(blob, header["ops_offset"] + i * fmt.OP.size)
        if opcode == fmt.OpCode.ADD:
            adds.append((offsets[output], offsets[in0], offsets[in1]))
    # ref's two residual ADDs read the block's input and its projection, both for the last time.
    assert len(adds) == 2 and all(out in (a, b) for out, a, b in adds)
