"""`mcutrain bench conformance --models N --seed S --board qemu-m7 --json`: what happens to the
small CNNs users bring. Random Keras models are built from the layers they use (seeded), converted
by TFLite's plain full-integer recipe (a dynamic batch, as users convert), and each one is either

    compiled   `mcutrain compile` accepts it; it then runs on the emulated board on a few random
               int8 inputs and its logits are compared with TFLite Micro's on the same bytes:
               bit_exact, mismatched, or crashed (the build, the boot or the run failed);
    refused    compile refuses it in one line, counted by reason (the op, or the op and option).

The layer menu holds the layers of issue 16's list as users write them, each about as often as
small CNNs use it: convolutions (strides 1 to 4, dilation, depth multipliers), pools, standalone
activations (ReLU, ReLU6, LeakyReLU, sigmoid, tanh, hard-swish), residual ADDs, concatenations,
squeeze-and-excitation gates (MUL), SUB, zero padding, and a channel split, so the refusals show
what users would hit.
"""

from __future__ import annotations

import contextlib
import re
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import numpy as np

INPUTS_PER_MODEL = 4
CALIBRATION_SAMPLES = 16


@dataclass(frozen=True)
class RandomModel:
    name: str
    input_shape: tuple[int, int, int]
    layers: tuple[str, ...]     # what it is made of, for people
    build: Callable             # (keras) -> keras.Model


def random_model(index: int, rng: np.random.Generator) -> RandomModel:
    """One seeded architecture: a stem, two to four blocks, a head."""
    height, width = int(rng.choice([12, 16, 20])), int(rng.choice([12, 16]))
    channels = int(rng.choice([1, 2, 3]))
    blocks = [_block(rng) for _ in range(int(rng.integers(2, 5)))]
    head = str(rng.choice(["gap", "flatten"]))
    classes = int(rng.integers(2, 11))
    names = ("conv3",) + tuple(name for name, _ in blocks) + (head, f"dense{classes}")

    def build(keras):
        inputs = keras.Input((height, width, channels))
        x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
        for _, layer in blocks:
            x = layer(keras, x)
        x = keras.layers.GlobalAveragePooling2D()(x) if head == "gap" else keras.layers.Flatten()(x)
        return keras.Model(inputs, keras.layers.Dense(classes)(x))

    return RandomModel(f"random{index:03d}", (height, width, channels), names, build)


def _block(rng: np.random.Generator) -> tuple[str, Callable]:
    """A layer as users write them: mostly supported ones, now and then one that is not yet."""
    filters = int(rng.choice([4, 8, 12]))
    activation = str(rng.choice(["relu", "relu6", "none"]))
    act = None if activation == "none" else activation
    kernel = int(rng.choice([1, 3, 5]))
    stride = int(rng.choice([1, 1, 2]))
    padding = str(rng.choice(["same", "valid"]))
    kinds = {"conv": .26, "depthwise": .18, "maxpool": .07, "avgpool": .05, "relu": .04, "relu6": .02,
             "residual": .06, "leaky_relu": .03, "sigmoid": .03, "tanh": .02, "hard_swish": .02, "concat": .04,
             "dilated": .03, "dw_dilated": .01, "multiplier2": .02, "stride3": .02, "stride4": .01, "se": .03,
             "sub": .01, "pad": .02, "split": .03}
    kind = str(rng.choice(list(kinds), p=list(kinds.values())))

    def fitting(x, k: int) -> str:  # a VALID window needs room: else SAME
        return padding if x.shape[1] >= k and x.shape[2] >= k else "same"

    def conv(keras, x):
        return keras.layers.Conv2D(filters, kernel, strides=stride, padding=fitting(x, kernel), activation=act)(x)

    def depthwise(keras, x):
        k = 3 if kernel == 1 else kernel
        return keras.layers.DepthwiseConv2D(k, strides=stride, padding=fitting(x, k), activation=act)(x)

    def pool(keras, x, layer):
        return layer(2)(x) if x.shape[1] >= 2 and x.shape[2] >= 2 else x

    def residual(keras, x):
        y = keras.layers.Conv2D(x.shape[-1], 3, padding="same", activation="relu")(x)
        return keras.layers.Add()([x, y])

    def concat(keras, x):
        y = keras.layers.Conv2D(4, 1)(x)
        return keras.layers.Concatenate()([x, y])

    def squeeze_excite(keras, x):  # MobileNetV3's gate: GAP -> Dense -> ReLU -> Dense -> sigmoid, times x
        c = x.shape[-1]
        g = keras.layers.GlobalAveragePooling2D()(x)
        g = keras.layers.Dense(max(c // 2, 2), activation="relu")(g)
        g = keras.layers.Reshape((1, 1, c))(keras.layers.Dense(c, activation="sigmoid")(g))
        return keras.layers.Multiply()([x, g])

    def subtract(keras, x):
        return keras.layers.Subtract()([x, keras.layers.Conv2D(x.shape[-1], 3, padding="same")(x)])

    def split(keras, x):  # ShuffleNet's: half the channels through a conv, the other half as they are
        c = x.shape[-1]
        if c < 2:
            return x
        a, b = keras.ops.split(x, [c // 2], axis=-1)
        return keras.layers.Concatenate()([a, keras.layers.Conv2D(c - c // 2, 1, activation="relu")(b)])

    makers = {
        "conv": (f"conv{kernel}s{stride}{padding[0]}-{activation}", conv),
        "depthwise": (f"dw{kernel}s{stride}-{activation}", depthwise),
        "maxpool": ("maxpool2", lambda keras, x: pool(keras, x, keras.layers.MaxPooling2D)),
        "avgpool": ("avgpool2", lambda keras, x: pool(keras, x, keras.layers.AveragePooling2D)),
        "relu": ("relu", lambda keras, x: keras.layers.ReLU()(x)),
        "relu6": ("relu6", lambda keras, x: keras.layers.ReLU(6.0)(x)),
        "residual": ("residual", residual),
        "leaky_relu": ("leaky_relu", lambda keras, x: keras.layers.LeakyReLU(0.2)(x)),
        "sigmoid": ("sigmoid", lambda keras, x: keras.layers.Activation("sigmoid")(x)),
        "tanh": ("tanh", lambda keras, x: keras.layers.Activation("tanh")(x)),
        "hard_swish": ("hard_swish", lambda keras, x: keras.layers.Activation("hard_swish")(x)),
        "concat": ("concat", concat),
        "dilated": ("conv3-dilation2", lambda keras, x: keras.layers.Conv2D(filters, 3, padding="same",
                                                                          dilation_rate=2)(x)),
        "dw_dilated": ("dw3-dilation2", lambda keras, x: keras.layers.DepthwiseConv2D(
            3, padding="same", dilation_rate=2)(x)),
        "multiplier2": ("dw3-multiplier2", lambda keras, x: keras.layers.DepthwiseConv2D(
            3, padding="same", depth_multiplier=2)(x)),
        "stride3": ("conv3s3", lambda keras, x: keras.layers.Conv2D(filters, 3, strides=3, padding="same")(x)),
        "stride4": ("dw3s4", lambda keras, x: keras.layers.DepthwiseConv2D(3, strides=4, padding="same")(x)),
        "se": ("squeeze-excite", squeeze_excite),
        "sub": ("subtract", subtract),
        "pad": ("zeropad1", lambda keras, x: keras.layers.ZeroPadding2D(1)(x)),
        "split": ("split-channels", split),
    }
    return makers[kind]


def refusal_reason(message: str) -> str:
    """The reason a refusal counts under: the op for an unsupported op, the op and the option
    for an unsupported option (without the operator's index and the supported list)."""
    named = re.search(r"operator \d+ is ([\w' ]+?), which", message)
    if named:
        return named.group(1)
    option = re.search(r"operator \d+ \((\w+)\): ([^(;]+)", message)
    if option:
        return f"{option.group(1)}: {re.sub(r'[0-9]+', 'N', option.group(2)).strip()}"
    return re.sub(r"[0-9]+", "N", message.split(";")[0])[:80]


def run_conformance(count: int, seed: int, board: str, progress: Callable[[str], None] = lambda text: None) -> dict:
    """The benchmark's figures (its JSON)."""
    import keras

    from quantize.convert import convert_plain_recipe
    from quantize.errors import PlanError, UnsupportedModelError
    from quantize.lower import lower_tflite

    outcome: Counter = Counter()
    refusals: Counter = Counter()
    models = []
    for index in range(count):
        # One generator per model: the same seed gives the same models whatever compiles.
        rng = np.random.default_rng([seed, index])
        spec = random_model(index, rng)
        keras.utils.set_random_seed(seed * 1000 + index)
        calibration = rng.random((CALIBRATION_SAMPLES, *spec.input_shape), dtype=np.float32)
        with contextlib.redirect_stdout(sys.stderr):  # the converter prints where it saved its artifact
            tflite = convert_plain_recipe(spec.build(keras), calibration)
        record = {"name": spec.name, "layers": list(spec.layers), "input_shape": list(spec.input_shape)}
        try:
            lower_tflite(tflite, spec.name)
        except (UnsupportedModelError, PlanError) as err:
            record.update(result="refused", reason=refusal_reason(str(err)), error=str(err))
            refusals[record["reason"]] += 1
        else:
            record.update(_run_on_device(board, spec.name, tflite, rng))
        outcome[record["result"]] += 1
        models.append(record)
        progress(f"{spec.name}: {record['result']}")
    compiled = outcome["bit_exact"] + outcome["mismatched"] + outcome["crashed"]
    return {"board": board, "seed": seed, "generated": count, "compiled": compiled, "refused": outcome["refused"],
            "bit_exact": outcome["bit_exact"], "mismatched": outcome["mismatched"], "crashed": outcome["crashed"],
            "refusals": dict(refusals.most_common()), "models": models}


def _run_on_device(board: str, name: str, tflite: bytes, rng: np.random.Generator) -> dict:
    """Builds the firmware with the model, runs INPUTS_PER_MODEL random inputs on the emulated
    board and compares the logits with TFLite Micro's."""
    from host_tools.commands.infer import check_device_model
    from host_tools.protocol.device import host_model, open_device
    from quantize.interpreters import reference_outputs
    from quantize.tflite_model import parse_tflite

    graph = parse_tflite(tflite)
    shape = graph.tensor(graph.int8_input).shape
    xs = rng.integers(-128, 128, size=(INPUTS_PER_MODEL, *shape[1:]), dtype=np.int64).astype(np.int8)
    expected = reference_outputs(tflite, xs).reshape(len(xs), -1)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{name}.tflite"
        path.write_bytes(tflite)
        try:
            args = SimpleNamespace(board=board, model=str(path), plan=None, port=None)
            with open_device(args, quiet=True) as device:
                check_device_model(device.info(), host_model(str(path)))
                logits = np.stack([np.frombuffer(r.logits, dtype=np.int8) for r in device.infer_many(xs)])
        except Exception as err:  # a build, boot or protocol failure is this model's result, not the run's
            return {"result": "crashed", "error": f"{type(err).__name__}: {err}"[:300]}
    equal = int(np.sum(np.all(logits.reshape(expected.shape) == expected, axis=1)))
    return {"result": "bit_exact" if equal == len(xs) else "mismatched", "inputs_equal": equal,
            "inputs": len(xs)}
