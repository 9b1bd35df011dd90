"""A generated suite of small int8 models covering every op and option the firmware implements.

Each entry is a Keras model built with a fixed seed and converted by the real TFLite converter
(quantize.convert) with random calibration data; the TFLite Micro interpreter is the oracle the
tests compare against. Shapes are deliberately odd (7x5 images, 3 or 13 channels) so that
padding and edge handling are exercised.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

SEED = 1234
CALIBRATION_SAMPLES = 32


@dataclass(frozen=True)
class ZooModel:
    name: str
    input_shape: tuple[int, ...]
    build: Callable  # (keras) -> keras.Model
    covers: tuple[str, ...]  # TFLite ops it exercises, for the coverage check
    # False: converted as the plain TFLiteConverter recipe does, with a dynamic batch (Flatten and
    # Reshape then compute their shape with SHAPE / STRIDED_SLICE / PACK, which compile folds).
    fixed_batch: bool = True


def _seq(keras, shape, *layers):
    return keras.Sequential([keras.Input(shape), *layers])


def _conv_models() -> list[ZooModel]:
    models = []
    combos = [
        # (kernel, stride, padding, activation, in shape, filters)
        (1, 1, "valid", None, (5, 7, 3), 4), (1, 2, "same", "relu", (7, 5, 3), 6),
        (3, 1, "same", "relu6", (7, 5, 3), 8), (3, 1, "valid", None, (7, 5, 3), 5),
        (3, 2, "same", "relu", (9, 7, 2), 4), (3, 2, "valid", "relu6", (9, 8, 2), 7),
        (5, 1, "same", None, (8, 6, 1), 3), (5, 2, "same", "relu6", (11, 9, 3), 4),
        (5, 1, "valid", "relu", (9, 9, 2), 2), (3, 1, "same", None, (4, 4, 16), 13),
        (1, 1, "same", "relu6", (6, 6, 32), 24), (3, 2, "same", None, (6, 6, 1), 16),
        (5, 2, "valid", None, (12, 10, 4), 6), (1, 2, "valid", "relu", (8, 8, 5), 3),
        (3, 1, "same", "relu", (1, 9, 3), 4), (3, 1, "same", "relu6", (9, 1, 3), 4),
        # One-channel inputs whose filter rows are narrower than a word (the row-group patch).
        (2, 1, "valid", "relu", (7, 6, 1), 5), (4, 2, "same", None, (9, 10, 1), 3),
        # Pointwise filters the compiler packs, with an odd pixel count and an odd channel count.
        (1, 1, "valid", "relu", (7, 7, 8), 5), (1, 1, "same", None, (5, 3, 12), 7),
    ]
    for i, (k, s, pad, act, shape, filters) in enumerate(combos):
        models.append(ZooModel(
            f"conv{i:02d}_k{k}s{s}{pad[0]}_{act or 'none'}", shape,
            lambda keras, k=k, s=s, pad=pad, act=act, shape=shape, f=filters: _seq(
                keras, shape, keras.layers.Conv2D(f, k, strides=s, padding=pad, activation=act)),
            ("CONV_2D",)))
    return models


def _depthwise_models() -> list[ZooModel]:
    combos = [
        (3, 1, "same", "relu6", (7, 5, 4)), (3, 2, "same", "relu", (9, 7, 3)),
        (3, 1, "valid", None, (6, 6, 8)), (3, 2, "valid", "relu6", (9, 8, 2)),
        (5, 1, "same", None, (7, 7, 5)), (5, 2, "same", "relu6", (11, 9, 6)),
        (3, 1, "same", None, (1, 8, 4)), (3, 2, "same", "relu6", (8, 8, 32)),
        # Rows of 4k+2, 4k+3 and 4k+1 outputs without activation (the one-channel-at-a-time path's
        # row ends on the signed output stage).
        (3, 1, "same", None, (5, 6, 8)), (3, 1, "same", None, (4, 7, 4)), (3, 2, "same", None, (6, 10, 4)),
        # A stride-2 row of 4k+3 outputs (7 here) whose last window lies inside the input.
        (3, 2, "valid", None, (6, 16, 4)),
        # Staged rows that end in a word of one input column (9 and 11 columns, no left padding), after an
        # even and an odd number of two-column words.
        (3, 1, "valid", None, (5, 9, 4)), (3, 1, "valid", None, (5, 11, 4)),
    ]
    return [
        ZooModel(f"dw{i:02d}_k{k}s{s}{pad[0]}_{act or 'none'}", shape,
                 lambda keras, k=k, s=s, pad=pad, act=act, shape=shape: _seq(
                     keras, shape, keras.layers.DepthwiseConv2D(k, strides=s, padding=pad, activation=act)),
                 ("DEPTHWISE_CONV_2D",))
        for i, (k, s, pad, act, shape) in enumerate(combos)
    ]


def _dense_models() -> list[ZooModel]:
    return [
        ZooModel("fc00_vector", (12,), lambda keras: _seq(keras, (12,), keras.layers.Dense(5)), ("FULLY_CONNECTED",)),
        ZooModel("fc01_relu_nobias", (20,), lambda keras: _seq(keras, (20,), keras.layers.Dense(7, activation="relu", use_bias=False)),
                 ("FULLY_CONNECTED",)),
        ZooModel("fc02_flatten", (4, 3, 2), lambda keras: _seq(keras, (4, 3, 2), keras.layers.Flatten(), keras.layers.Dense(6)),
                 ("RESHAPE", "FULLY_CONNECTED")),
        ZooModel("fc03_two_layers", (16,), lambda keras: _seq(keras, (16,), keras.layers.Dense(32, activation="relu"),
                                                              keras.layers.Dense(10)), ("FULLY_CONNECTED",)),
        ZooModel("fc04_reshape_layer", (6, 4, 1), lambda keras: _seq(keras, (6, 4, 1), keras.layers.Reshape((24,)),
                                                                    keras.layers.Dense(3)), ("RESHAPE", "FULLY_CONNECTED")),
        ZooModel("fc05_flatten_dynamic_batch", (6, 5, 2), lambda keras: _seq(
            keras, (6, 5, 2), keras.layers.Conv2D(4, 3, activation="relu"), keras.layers.Flatten(),
            keras.layers.Dense(7)), ("CONV_2D", "RESHAPE", "FULLY_CONNECTED"), fixed_batch=False),
        ZooModel("fc06_reshape_dynamic_batch", (4, 6, 3), lambda keras: _seq(
            keras, (4, 6, 3), keras.layers.Reshape((12, 6)), keras.layers.Flatten(), keras.layers.Dense(3)),
                 ("RESHAPE", "FULLY_CONNECTED"), fixed_batch=False),
    ]


def _residual(keras, shape, expand, activation=None):
    inputs = keras.Input(shape)
    x = keras.layers.Conv2D(shape[-1] * expand, 1, activation="relu6")(inputs)
    x = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu6")(x)
    x = keras.layers.Conv2D(shape[-1], 1)(x)
    x = keras.layers.Add()([inputs, x])
    if activation:
        x = keras.layers.Activation(activation)(x)
    return keras.Model(inputs, x)


def _add_models() -> list[ZooModel]:
    return [
        ZooModel("add00_residual", (6, 6, 4), lambda keras: _residual(keras, (6, 6, 4), 2), ("ADD",)),
        ZooModel("add01_residual_relu", (5, 7, 3), lambda keras: _residual(keras, (5, 7, 3), 3, "relu"), ("ADD",)),
        ZooModel("add02_scaled_branches", (4, 4, 2), lambda keras: (lambda i: keras.Model(
            i, keras.layers.Add()([keras.layers.Conv2D(2, 1)(i), keras.layers.Conv2D(2, 3, padding="same")(i)])))(
            keras.Input((4, 4, 2))), ("ADD",)),
        ZooModel("add03_relu6_fused", (3, 5, 6), lambda keras: (lambda i: keras.Model(
            i, keras.layers.ReLU(6.0)(keras.layers.Add()([i, keras.layers.Conv2D(6, 1)(i)]))))(
            keras.Input((3, 5, 6))), ("ADD",)),
    ]


def _pool_models() -> list[ZooModel]:
    combos = [
        ("avg", 2, 2, "valid", (8, 6, 3)), ("avg", 3, 2, "same", (7, 5, 4)), ("avg", 3, 1, "same", (5, 5, 2)),
        ("avg", 2, 1, "valid", (4, 7, 5)), ("max", 2, 2, "valid", (8, 6, 3)), ("max", 3, 2, "same", (7, 5, 4)),
        ("max", 3, 1, "same", (5, 5, 2)), ("max", 2, 1, "valid", (6, 3, 1)),
    ]
    models = []
    for i, (kind, k, s, pad, shape) in enumerate(combos):
        layer = "AveragePooling2D" if kind == "avg" else "MaxPooling2D"
        op = "AVERAGE_POOL_2D" if kind == "avg" else "MAX_POOL_2D"
        models.append(ZooModel(
            f"pool{i:02d}_{kind}_k{k}s{s}{pad[0]}", shape,
            lambda keras, layer=layer, k=k, s=s, pad=pad, shape=shape: _seq(
                keras, shape, keras.layers.Conv2D(shape[-1], 1), getattr(keras.layers, layer)(k, strides=s, padding=pad)),
            (op,)))
    return models


def _mean_models() -> list[ZooModel]:
    combos = [((7, 5, 3), False), ((4, 4, 8), True), ((1, 6, 2), False), ((9, 9, 5), True), ((3, 2, 16), False)]
    return [
        ZooModel(f"mean{i:02d}_{'keep' if keep else 'flat'}", shape,
                 lambda keras, shape=shape, keep=keep: _seq(
                     keras, shape, keras.layers.Conv2D(shape[-1], 1, activation="relu"),
                     keras.layers.GlobalAveragePooling2D(keepdims=keep)),
                 ("MEAN",))
        for i, (shape, keep) in enumerate(combos)
    ] + [
        # Other axes, the result feeding a Dense: a sequence's (GlobalAveragePooling1D over a
        # [N, T, C] reshape: axis 1 of rank 3), the width only, the channels.
        ZooModel("mean05_sequence_axis1", (6, 4, 3), lambda keras: _seq(
            keras, (6, 4, 3), keras.layers.Conv2D(4, 1, activation="relu"), keras.layers.Reshape((24, 4)),
            keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(3)), ("MEAN", "RESHAPE")),
        ZooModel("mean06_width_axis2", (5, 7, 3), lambda keras: _seq(
            keras, (5, 7, 3), keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
            keras.layers.Lambda(lambda t: keras.ops.mean(t, axis=2)), keras.layers.Flatten(),
            keras.layers.Dense(3)), ("MEAN",)),
        ZooModel("mean07_channels_keep", (6, 5, 2), lambda keras: _seq(
            keras, (6, 5, 2), keras.layers.Conv2D(5, 3, padding="same", activation="relu"),
            keras.layers.Lambda(lambda t: keras.ops.mean(t, axis=-1, keepdims=True)), keras.layers.Flatten(),
            keras.layers.Dense(4)), ("MEAN",)),
    ]


def _pad_models() -> list[ZooModel]:
    combos = [((5, 5, 2), ((1, 1), (1, 1))), ((4, 6, 3), ((2, 0), (0, 3))), ((3, 3, 1), ((0, 1), (1, 0)))]
    return [
        ZooModel(f"pad{i:02d}", shape,
                 lambda keras, shape=shape, p=p: _seq(
                     # A max pool after the pad: a conv would absorb the padding into its own.
                     keras, shape, keras.layers.Conv2D(shape[-1], 1), keras.layers.ZeroPadding2D(p),
                     keras.layers.MaxPooling2D(2)),
                 ("PAD", "MAX_POOL_2D"))
        for i, (shape, p) in enumerate(combos)
    ]


def _softmax_models() -> list[ZooModel]:
    return [
        ZooModel("softmax00_classes10", (16,), lambda keras: _seq(keras, (16,), keras.layers.Dense(10), keras.layers.Softmax()),
                 ("SOFTMAX",)),
        ZooModel("softmax01_classes3", (5,), lambda keras: _seq(keras, (5,), keras.layers.Dense(3, activation="softmax")),
                 ("SOFTMAX",)),
        ZooModel("softmax02_cnn", (8, 8, 1), lambda keras: _seq(
            keras, (8, 8, 1), keras.layers.Conv2D(4, 3, activation="relu"), keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(7), keras.layers.Softmax()), ("SOFTMAX", "MEAN")),
    ]


def _activation_models() -> list[ZooModel]:
    """ReLU and ReLU6 that TFLite cannot fuse into the op before them (on the input, after a MEAN):
    standalone RELU / RELU6. (After a pooling layer the converter moves them into the op before.)"""
    return [
        ZooModel("act00_relu_on_the_input_9x7x3", (9, 7, 3), lambda keras: _seq(
            keras, (9, 7, 3), keras.layers.ReLU(), keras.layers.Conv2D(5, 3), keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(), keras.layers.Dense(4)), ("RELU", "CONV_2D", "MAX_POOL_2D", "FULLY_CONNECTED")),
        ZooModel("act01_relu6_on_the_input_8x8x2", (8, 8, 2), lambda keras: _seq(
            keras, (8, 8, 2), keras.layers.ReLU(max_value=6.0), keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)), ("RELU6", "CONV_2D", "MEAN")),
        ZooModel("act02_relu6_after_mean_10x6x4", (10, 6, 4), lambda keras: _seq(
            keras, (10, 6, 4), keras.layers.Conv2D(6, 3), keras.layers.GlobalAveragePooling2D(),
            keras.layers.ReLU(max_value=6.0), keras.layers.Dense(5)), ("CONV_2D", "MEAN", "RELU6")),
        ZooModel("act03_relu_on_the_input_13", (13,), lambda keras: _seq(
            keras, (13,), keras.layers.ReLU(), keras.layers.Dense(6), keras.layers.ReLU(max_value=6.0),
            keras.layers.Dense(2)), ("RELU", "FULLY_CONNECTED")),
        ZooModel("act05_leaky_relu_after_conv_9x8x2", (9, 8, 2), lambda keras: _seq(
            keras, (9, 8, 2), keras.layers.Conv2D(6, 3), keras.layers.LeakyReLU(0.2),
            keras.layers.DepthwiseConv2D(3, padding="same"), keras.layers.LeakyReLU(0.05),
            keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(4)), ("CONV_2D", "LEAKY_RELU", "MEAN")),
        ZooModel("act06_leaky_relu_on_the_input_12", (12,), lambda keras: _seq(
            keras, (12,), keras.layers.LeakyReLU(0.3), keras.layers.Dense(5), keras.layers.LeakyReLU(0.1),
            keras.layers.Dense(3)), ("LEAKY_RELU", "FULLY_CONNECTED")),
        ZooModel("act04_relu_after_mean_7x5x3", (7, 5, 3), lambda keras: _seq(
            keras, (7, 5, 3), keras.layers.DepthwiseConv2D(3, padding="same"), keras.layers.GlobalAveragePooling2D(),
            keras.layers.ReLU(), keras.layers.Dense(4)), ("DEPTHWISE_CONV_2D", "MEAN", "RELU")),
        ZooModel("act07_sigmoid_tanh_after_conv_9x7x3", (9, 7, 3), lambda keras: _seq(
            keras, (9, 7, 3), keras.layers.Conv2D(6, 3), keras.layers.Activation("sigmoid"),
            keras.layers.DepthwiseConv2D(3, padding="same"), keras.layers.Activation("tanh"),
            keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(4)), ("CONV_2D", "LOGISTIC", "TANH", "MEAN")),
        ZooModel("act08_hard_swish_after_conv_8x8x2", (8, 8, 2), lambda keras: _seq(
            keras, (8, 8, 2), keras.layers.Conv2D(5, 3, padding="same"), keras.layers.Activation("hard_swish"),
            keras.layers.DepthwiseConv2D(3), keras.layers.Activation("hard_swish"),
            keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)), ("CONV_2D", "HARD_SWISH", "MEAN")),
        ZooModel("act09_lut_activations_on_the_input_12", (12,), lambda keras: _seq(
            keras, (12,), keras.layers.Activation("tanh"), keras.layers.Dense(6), keras.layers.Activation("sigmoid"),
            keras.layers.Dense(6), keras.layers.Activation("hard_swish"), keras.layers.Dense(3)),
            ("TANH", "LOGISTIC", "HARD_SWISH", "FULLY_CONNECTED")),
    ]


def _network_models() -> list[ZooModel]:
    def mini_mbv2(keras, shape):
        inputs = keras.Input(shape)
        x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu6")(inputs)
        for expand, out, stride in ((2, 8, 1), (3, 12, 2), (3, 12, 1)):
            block_input = x
            x = keras.layers.Conv2D(x.shape[-1] * expand, 1, activation="relu6")(x)
            x = keras.layers.DepthwiseConv2D(3, strides=stride, padding="same", activation="relu6")(x)
            x = keras.layers.Conv2D(out, 1)(x)
            if stride == 1 and out == block_input.shape[-1]:
                x = keras.layers.Add()([block_input, x])
        x = keras.layers.GlobalAveragePooling2D()(x)
        return keras.Model(inputs, keras.layers.Dense(5)(x))

    def stem_chain(keras, shape):
        # A stem that runs into blocks without a residual (as mbv2's first two): one row chain from
        # the input to the first tensor two ops read, with odd sizes, SAME and VALID padding.
        inputs = keras.Input(shape)
        x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu6")(inputs)
        x = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu6")(x)
        x = keras.layers.Conv2D(5, 1)(x)
        x = keras.layers.Conv2D(15, 1, activation="relu6")(x)
        x = keras.layers.DepthwiseConv2D(3, strides=2, padding="valid", activation="relu6")(x)
        x = keras.layers.Conv2D(6, 1)(x)
        x = keras.layers.Conv2D(7, 3, strides=1, padding="same", activation="relu")(x)
        branch = keras.layers.Conv2D(7, 1)(x)
        x = keras.layers.Add()([x, branch])
        x = keras.layers.GlobalAveragePooling2D()(x)
        return keras.Model(inputs, keras.layers.Dense(3)(x))

    return [
        ZooModel("net03_stem_chain_23x13x3", (23, 13, 3), lambda keras: stem_chain(keras, (23, 13, 3)),
                 ("CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MEAN", "FULLY_CONNECTED")),
        ZooModel("net00_mini_mbv2_16", (16, 16, 1), lambda keras: mini_mbv2(keras, (16, 16, 1)),
                 ("CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MEAN", "FULLY_CONNECTED")),
        ZooModel("net01_mini_mbv2_13x11x3", (13, 11, 3), lambda keras: mini_mbv2(keras, (13, 11, 3)),
                 ("CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MEAN", "FULLY_CONNECTED")),
        ZooModel("net02_lenet", (12, 12, 1), lambda keras: _seq(
            keras, (12, 12, 1), keras.layers.Conv2D(6, 5, activation="relu"), keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(8, 3, activation="relu"), keras.layers.AveragePooling2D(2), keras.layers.Flatten(),
            keras.layers.Dense(10)), ("CONV_2D", "MAX_POOL_2D", "AVERAGE_POOL_2D", "FULLY_CONNECTED")),
    ]


def _conv_option_models() -> list[ZooModel]:
    """Dilation (with a fixed batch the converter keeps it in the op's options; with the plain
    recipe it writes SPACE_TO_BATCH_ND -> conv -> BATCH_TO_SPACE_ND, which compile folds back),
    depth multipliers over 1, strides 3 and 4."""
    def conv(f, k, **kw):
        return lambda keras: keras.layers.Conv2D(f, k, **kw)

    def dw(k, **kw):
        return lambda keras: keras.layers.DepthwiseConv2D(k, **kw)

    def pool(layer, k, s):
        return lambda keras: getattr(keras.layers, layer)(k, strides=s)

    combos = [
        # (name, layer, in shape, fixed batch)
        ("conv_k3d2s", conv(4, 3, padding="same", dilation_rate=2), (7, 9, 3), True),
        ("conv_k3d2s_plain", conv(4, 3, padding="same", dilation_rate=2, activation="relu"), (9, 9, 3), False),
        ("conv_k3d3v_plain", conv(5, 3, padding="valid", dilation_rate=3), (11, 10, 2), False),
        ("conv_k3d23s_plain", conv(3, 3, padding="same", dilation_rate=(2, 3)), (8, 11, 2), False),
        ("conv_k5d4s_plain", conv(3, 5, padding="same", dilation_rate=4), (13, 12, 1), False),
        ("dw_k3d2s_plain", dw(3, padding="same", dilation_rate=2), (10, 9, 4), False),
        ("dw_k3d2s_relu6", dw(3, padding="same", dilation_rate=2, activation="relu6"), (8, 7, 8), True),
        ("dw_k3d3v_plain", dw(3, padding="valid", dilation_rate=3), (10, 11, 3), False),
        ("dw_k3m2s", dw(3, padding="same", depth_multiplier=2), (7, 5, 3), True),
        ("dw_k3m3s2v_relu6", dw(3, strides=2, padding="valid", depth_multiplier=3, activation="relu6"),
         (9, 8, 4), True),
        ("dw_k5m2s_plain", dw(5, padding="same", depth_multiplier=2), (6, 7, 2), False),
        ("dw_k3m2d2s_plain", dw(3, padding="same", depth_multiplier=2, dilation_rate=2), (9, 8, 2), False),
        ("conv_k3s3s", conv(4, 3, strides=3, padding="same"), (10, 11, 3), True),
        ("conv_k5s4v_relu", conv(3, 5, strides=4, padding="valid", activation="relu"), (13, 12, 2), True),
        ("conv_k1s3v", conv(5, 1, strides=3), (7, 7, 8), True),
        ("conv_k3s3s_1ch", conv(6, 3, strides=3, padding="same"), (12, 11, 1), True),
        ("conv_k3s34s", conv(4, 3, strides=(3, 4), padding="same"), (11, 13, 3), True),
        ("dw_k3s3s", dw(3, strides=3, padding="same"), (10, 10, 8), True),
        ("dw_k3s4v_relu", dw(3, strides=4, padding="valid", activation="relu"), (13, 14, 4), True),
        ("dw_k3s3s_wide", dw(3, strides=3, padding="same"), (6, 40, 4), True),
        ("maxpool_k3s3", pool("MaxPooling2D", 3, 3), (9, 10, 3), True),
        ("avgpool_k4s4", pool("AveragePooling2D", 4, 4), (12, 9, 2), True),
    ]
    models = []
    for i, (name, layer, shape, fixed) in enumerate(combos):
        ops = (("DEPTHWISE_CONV_2D",) if name.startswith("dw") else ("CONV_2D",) if name.startswith("conv")
               else ("MAX_POOL_2D",) if name.startswith("max") else ("AVERAGE_POOL_2D",))
        models.append(ZooModel(f"cv{i:02d}_{name}", shape,
                               lambda keras, layer=layer, shape=shape: _seq(keras, shape, layer(keras)),
                               ops, fixed_batch=fixed))
    return models


def _concat_models() -> list[ZooModel]:
    """CONCATENATION with 2, 3 and 4 inputs on the channel axis (the input itself among them, as an
    inception or densenet block reads it), on the width axis, of vectors, and of one tensor twice."""
    def model(keras, shape, branches, axis=-1, head=None):
        inputs = keras.Input(shape)
        x = keras.layers.Concatenate(axis=axis)([branch(inputs) for branch in branches(keras)])
        return keras.Model(inputs, head(keras, x) if head else x)

    def conv_head(keras, x):
        return keras.layers.Conv2D(5, 3, padding="same")(x)

    return [
        ZooModel("cat00_input_and_conv_7x5x3", (7, 5, 3), lambda keras: model(
            keras, (7, 5, 3), lambda k: [lambda x: x, k.layers.Conv2D(4, 1)]), ("CONCATENATION", "CONV_2D")),
        ZooModel("cat01_three_branches_6x6x2", (6, 6, 2), lambda keras: model(
            keras, (6, 6, 2), lambda k: [k.layers.Conv2D(3, 1, activation="relu"),
                                         k.layers.Conv2D(5, 3, padding="same", activation="relu6"),
                                         k.layers.DepthwiseConv2D(3, padding="same")], head=conv_head),
                 ("CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D")),
        ZooModel("cat02_four_branches_5x7x4", (5, 7, 4), lambda keras: model(
            keras, (5, 7, 4), lambda k: [lambda x: x, k.layers.Conv2D(2, 1), k.layers.Conv2D(3, 3, padding="same"),
                                         lambda x: k.layers.MaxPooling2D(3, strides=1, padding="same")(x)],
            head=lambda k, x: k.layers.Dense(3)(k.layers.GlobalAveragePooling2D()(x))),
                 ("CONCATENATION", "CONV_2D", "MAX_POOL_2D", "MEAN", "FULLY_CONNECTED")),
        ZooModel("cat03_width_axis_4x5x3", (4, 5, 3), lambda keras: model(
            keras, (4, 5, 3), lambda k: [k.layers.Conv2D(3, 1), k.layers.Conv2D(3, (1, 3))], axis=2,
            head=conv_head), ("CONCATENATION", "CONV_2D")),
        ZooModel("cat04_vectors_10", (10,), lambda keras: model(
            keras, (10,), lambda k: [k.layers.Dense(3, activation="relu"), k.layers.Dense(6)],
            head=lambda k, x: k.layers.Dense(4)(x)), ("CONCATENATION", "FULLY_CONNECTED")),
        ZooModel("cat05_one_tensor_twice_5x5x2", (5, 5, 2), lambda keras: (lambda i, y: keras.Model(
            i, conv_head(keras, keras.layers.Concatenate()([y, y]))))(
                *(lambda i: (i, keras.layers.Conv2D(3, 1)(i)))(keras.Input((5, 5, 2)))),
                 ("CONCATENATION", "CONV_2D")),
    ]


def _slice_models() -> list[ZooModel]:
    """STRIDED_SLICE of a channel range (x[..., a:b]), SPLIT (equal halves, keras.ops.split) and
    SPLIT_V (unequal parts) on the channel axis, their parts going two ways, then joined again."""
    def model(keras, shape, body):
        inputs = keras.Input(shape)
        x = keras.layers.Conv2D(6, 1, activation="relu")(inputs)
        return keras.Model(inputs, keras.layers.Conv2D(4, 3, padding="same")(body(keras, x)))

    def halves(keras, x):
        a, b = keras.ops.split(x, 2, axis=-1)
        return keras.layers.Concatenate()([keras.layers.Conv2D(3, 1)(a), b])

    def unequal(keras, x):
        a, b, c = keras.ops.split(x, [1, 4], axis=-1)
        return keras.layers.Concatenate()([c, keras.layers.Conv2D(2, 1)(b), a])

    return [
        ZooModel("sl00_channel_range_6x5x3", (6, 5, 3), lambda keras: model(
            keras, (6, 5, 3), lambda k, x: x[..., 1:4]), ("STRIDED_SLICE", "CONV_2D")),
        ZooModel("sl01_channel_tail_dynamic_batch_5x4x2", (5, 4, 2), lambda keras: model(
            keras, (5, 4, 2), lambda k, x: k.layers.Add()([x[..., 3:], x[..., :3]])), ("STRIDED_SLICE", "ADD"),
            fixed_batch=False),
        ZooModel("sp00_split_halves_5x6x2", (5, 6, 2), lambda keras: model(keras, (5, 6, 2), halves),
                 ("STRIDED_SLICE", "CONCATENATION")),
        ZooModel("sp01_split_v_unequal_6x4x3", (6, 4, 3), lambda keras: model(keras, (6, 4, 3), unequal),
                 ("STRIDED_SLICE", "CONCATENATION")),
    ]


def _squeeze_excite(keras, shape, combine, gate_at=None):
    """A conv, then squeeze-and-excitation: GAP -> Dense -> ReLU -> Dense -> ReLU -> Reshape, combined
    with the feature map (`combine`: Multiply or Subtract, the gate second), then GAP -> Dense."""
    inputs = keras.Input(shape)
    x = keras.layers.Conv2D(shape[-1] + 3, 3, padding="same", activation="relu")(inputs)
    channels = x.shape[-1]
    g = keras.layers.GlobalAveragePooling2D()(x)
    g = keras.layers.Dense(max(channels // 2, 2), activation="relu")(g)
    g = keras.layers.Dense(channels, activation="relu")(g)
    g = keras.layers.Reshape((1, 1, channels))(g)
    x = combine()([x, g])
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3)(x))


def _two_branches(keras, shape, combine):
    """Two convolutions of the input combined element-wise (same shape), then GAP -> Dense."""
    inputs = keras.Input(shape)
    a = keras.layers.Conv2D(4, 1)(inputs)
    b = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    x = combine()([a, b])
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3)(x))


def _broadcast_models() -> list[ZooModel]:
    """MUL and SUB: same shape, a per-channel gate [N, 1, 1, C] (squeeze-and-excitation), a scalar."""
    return [
        ZooModel("mul00_se_gate_6x5x5", (6, 5, 5), lambda keras: _squeeze_excite(
            keras, (6, 5, 5), keras.layers.Multiply), ("MUL", "MEAN", "FULLY_CONNECTED")),
        ZooModel("mul01_se_gate_dynamic_batch_7x4x3", (7, 4, 3), lambda keras: _squeeze_excite(
            keras, (7, 4, 3), keras.layers.Multiply), ("MUL", "RESHAPE"), fixed_batch=False),
        ZooModel("mul02_same_shape_5x6x2", (5, 6, 2), lambda keras: _two_branches(
            keras, (5, 6, 2), keras.layers.Multiply), ("MUL",)),
        ZooModel("mul03_scalar_6x4x3", (6, 4, 3), lambda keras: _seq(
            keras, (6, 4, 3), keras.layers.Conv2D(5, 3, activation="relu"), keras.layers.Rescaling(0.37),
            keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)), ("MUL",)),
        ZooModel("sub00_same_shape_5x6x2", (5, 6, 2), lambda keras: _two_branches(
            keras, (5, 6, 2), keras.layers.Subtract), ("SUB",)),
        ZooModel("sub01_se_gate_6x5x5", (6, 5, 5), lambda keras: _squeeze_excite(
            keras, (6, 5, 5), keras.layers.Subtract), ("SUB",)),
    ]


def zoo() -> list[ZooModel]:
    return (_conv_models() + _depthwise_models() + _dense_models() + _add_models() + _pool_models()
            + _mean_models() + _pad_models() + _softmax_models() + _activation_models() + _network_models()
            + _conv_option_models() + _concat_models() + _broadcast_models() + _slice_models())


def convert(model: ZooModel) -> bytes:
    """The model's int8 .tflite (deterministic for a given TensorFlow version)."""
    import keras

    from quantize.convert import convert_keras_to_int8, convert_plain_recipe

    keras.utils.set_random_seed(SEED)
    built = model.build(keras)
    rng = np.random.default_rng(SEED)
    # Calibration spans a range wider than [0, 1] so that zero points are not all -128.
    calibration = (rng.random((CALIBRATION_SAMPLES, *model.input_shape), dtype=np.float32) * 3.0 - 1.0)
    return (convert_keras_to_int8 if model.fixed_batch else convert_plain_recipe)(built, calibration)
