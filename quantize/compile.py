"""`mcutrain compile`: int8 .tflite -> model blob + the C++ source that links it into flash."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from quantize.codegen import blob_to_cpp
from quantize.importer import check_int8_tflite
from quantize.lower import LoweredModel, lower_graph
from quantize.training_plan import TrainingPlan

BLOB_FILE = "model.blob"
SOURCE_FILE = "model_blob.cpp"
PLAN_FILE = "memory_plan.txt"


@dataclass
class CompiledModel:
    out_dir: Path
    lowered: LoweredModel

    @property
    def blob_path(self) -> Path:
        return self.out_dir / BLOB_FILE


def compile_tflite(tflite: bytes, name: str, out_dir: Path, source_name: str = "",
                   plan: TrainingPlan | None = None) -> CompiledModel:
    """Validates and lowers the model (with `plan`'s parameters trainable, by default the
    classifier head), then writes OUT_DIR/{model.blob, model_blob.cpp, memory_plan.txt}. All or
    nothing: the files are written to a temporary folder beside OUT_DIR and moved in place only
    when everything succeeded."""
    lowered = lower_graph(check_int8_tflite(tflite, source_name or name), name, plan=plan)
    return write_compiled(lowered, out_dir, source_name or name)


def write_compiled(lowered: LoweredModel, out_dir: Path, source_name: str) -> CompiledModel:
    """Writes a lowered model's three files into OUT_DIR, all or nothing (see compile_tflite)."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        (staging / BLOB_FILE).write_bytes(lowered.blob)
        (staging / SOURCE_FILE).write_text(blob_to_cpp(lowered.blob, source_name))
        (staging / PLAN_FILE).write_text(lowered.plan.describe() + "\n")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return CompiledModel(out_dir, lowered)
