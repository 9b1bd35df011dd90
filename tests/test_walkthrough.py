"""The README's walk-through, run as written: a user's 6-axis motion model (.keras, trained on
gestures 0..4 of 10 outputs, ending in Softmax) learns gestures 5..9 on qemu-m7 from a transfer
set holding only those. The section's script and commands are read from README.md, so the README
cannot drift from what works; the figures it quotes are checked loosely (the emulator's timing and
the port vary, the learning must not)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from host_tools import cli

README = Path(__file__).resolve().parent.parent / "README.md"
HEADING = "### Walk-through: your own sensor model"


def walkthrough() -> tuple[str, list[str]]:
    """The section's Python script and its command lines, in order."""
    text = README.read_text()
    start = text.index(HEADING)
    end = re.compile(r"^##+ ", re.M).search(text, start + len(HEADING))
    section = text[start:end.start() if end else len(text)]
    blocks = re.findall(r"```(\w*)\n(.*?)```", section, flags=re.S)
    script = next(body for kind, body in blocks if kind == "python")
    commands = next(body for kind, body in blocks if kind == "" and body.startswith("python "))
    return script, [line for line in commands.splitlines() if line.strip()]


def run(capsys, line: str) -> str:
    argv = shlex.split(line)
    assert argv[0] == "mcutrain", line
    capsys.readouterr()
    code = cli.main(argv[1:])
    out, err = capsys.readouterr()
    assert code == 0, f"{line}: {err}"
    return out


def test_the_section_holds_a_script_and_the_commands():
    script, commands = walkthrough()
    assert 'model.save("gestures.keras")' in script and "softmax" in script
    assert commands[0] == "python gestures.py"
    assert any(line.startswith("mcutrain train --board qemu-m7") for line in commands)
    assert any(line.startswith("mcutrain baseline --model gestures.keras") for line in commands)


@pytest.mark.emulator
@pytest.mark.slow
def test_the_walkthrough_runs_as_written(capsys, tmp_path, monkeypatch):
    script, commands = walkthrough()
    (tmp_path / "gestures.py").write_text(script)
    monkeypatch.chdir(tmp_path)
    subprocess.run([sys.executable, "gestures.py"], check=True, capture_output=True, timeout=300)
    outputs = {}
    for line in commands[1:]:
        outputs[line] = run(capsys, line)

    assert (tmp_path / "gestures.tflite").is_file() and (tmp_path / "gestures-plan.json").is_file()
    head, planned = (re.search(r"test accuracy ([\d.]+)", out).group(1) for line, out in outputs.items()
                     if line.startswith("mcutrain baseline"))
    assert float(head) > 0.6 and float(planned) > 0.6  # five new gestures: chance is 0.2

    summary = json.loads((tmp_path / "demo-report" / "summary.json").read_text())
    assert summary["accuracy_before"] < 0.1  # the model has never seen gestures 5..9
    assert summary["accuracy_after"] > 0.6
    assert summary["golden_bit_exact"] and summary["golden_steps_equal"] == summary["steps"]
    assert summary["baseline_fp32_accuracy"] is not None  # the yardstick came from gestures.keras
    assert abs(summary["accuracy_after"] - summary["baseline_fp32_accuracy"]) < 0.15

    train = next(out for line, out in outputs.items() if line.startswith("mcutrain train"))
    assert float(re.search(r"device accuracy after training ([\d.]+)", train).group(1)) > 0.6


def test_a_tflite_without_its_keras_model_says_which_file_the_yardstick_needs(capsys, tmp_path):
    from quantize.models import load_reference_model

    alone = tmp_path / "alone.tflite"
    alone.write_bytes(load_reference_model("ref").tflite_bytes())
    capsys.readouterr()
    assert cli.main(["baseline", "--model", str(alone), "--data", "digits"]) == 1
    assert capsys.readouterr().err.strip() == (
        f"mcutrain: error: {alone} is the int8 model; the fp32 yardstick needs the float Keras model it was "
        f"quantized from: pass --model {tmp_path / 'alone.keras'} (or put it beside alone.tflite with that name)")


def test_a_keras_model_without_its_int8_model_says_how_to_make_it(capsys, tmp_path):
    from quantize.models import load_reference_model

    keras_file = tmp_path / "mine.keras"
    keras_file.write_bytes(load_reference_model("ref").keras_path.read_bytes())
    capsys.readouterr()
    assert cli.main(["compile", str(keras_file), "-o", str(tmp_path / "mine.bin")]) == 1
    assert capsys.readouterr().err.strip() == (
        f"mcutrain: error: {keras_file} is a float model and the device runs an int8 one: convert it with "
        f"`mcutrain quantize {keras_file} --calib DATA -o {tmp_path / 'mine.tflite'}` (then either file names the pair)")
    assert not (tmp_path / "mine.bin").exists()
