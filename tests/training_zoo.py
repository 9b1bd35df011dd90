"""Generated models and training plans that together cover every backward op and option the
training engine implements (quantize/training/program.py BACKWARD_OPS): CONV_2D with 1x1, 3x3 and
5x5 filters, strides 1 to 4, dilation, SAME and VALID padding, no activation, ReLU and ReLU6 (masks);
DEPTHWISE_CONV_2D likewise (3x3 and 5x5; depth multipliers 2 and 3); FULLY_CONNECTED with and without activation, fed by a
4-D tensor or by RESHAPE (Flatten); MEAN over H and W and over the width alone; MUL and SUB with
broadcasting (a squeeze-and-excitation gate, a scalar constant) and of the same shape; AVERAGE_POOL_2D
with full and clipped windows (strides 2 and 3); PAD; standalone RELU (after MEAN); standalone LEAKY_RELU,
LOGISTIC, TANH and HARD_SWISH (after convolutions and in a dense stack); MAX_POOL_2D with and without overlapping windows; ADD with and without a fused activation, in residual blocks whose input error is the sum of the
skip's and the branch's (ACCUMULATE), up to a mini MobileNetV2; a final SOFTMAX (the loss reads
its input); weights and/or bias trained; the error stopping at or crossing a frozen layer; gradient filtering
(r = 2 and 4) on 1x1, 3x3 and depthwise convolutions, with clipped edge patches, feeding filtered
and unfiltered layers below; CONCATENATION of two and three inputs (one the tensor below, which then
has three consumers), STRIDED_SLICE of a channel range, SPLIT and SPLIT_V on channels. Each
model is a Keras model built with a fixed seed and converted by the real TFLite converter
(tests/model_zoo.py).

A plan is given from the output end: (k, weights, bias) names the k-th parametric operator
(CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED) from the last (1: the head), so it does not depend
on the converter's operator numbering.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

from tests.model_zoo import ZooModel, _seq


@dataclass(frozen=True)
class TrainingCase:
    model: ZooModel
    # (k-th parametric op from the end, weights, bias[, channels: a ratio string or a list]
    #  [, other plan fields: a dict such as {"gradient_filter": 2}])
    plan: tuple[tuple, ...]

    @property
    def name(self) -> str:
        return self.model.name


def plan_json(case: TrainingCase, graph) -> str:
    """The case's plan as a plan file's JSON, with TFLite operator indices."""
    parametric = [op.index for op in graph.operators if op.op in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")]
    layers = []
    for k, w, b, *rest in case.plan:
        layer = {"op": parametric[-k], "weights": w, "bias": b}
        for extra in rest:
            layer.update(extra if isinstance(extra, dict) else {"channels": extra})
        layers.append(layer)
    return json.dumps({"version": 2, "trainable": layers})


def _case(name, shape, layers, plan, covers=()):
    return TrainingCase(ZooModel(name, shape, lambda keras: _seq(keras, shape, *layers(keras)), tuple(covers)), plan)


def _functional_case(name, shape, outputs, plan):
    """A case whose model is not a sequence: outputs(keras, inputs) -> the output tensor."""
    def build(keras):
        inputs = keras.Input(shape)
        return keras.Model(inputs, outputs(keras, inputs))
    return TrainingCase(ZooModel(name, shape, build, ()), plan)


ALL2 = ((1, True, True), (2, True, True))
ALL3 = ((1, True, True), (2, True, True), (3, True, True))
ALL4 = ALL3 + ((4, True, True),)
GF2, GF4 = {"gradient_filter": 2}, {"gradient_filter": 4}
GATED = ((1, True, True), (2, True, True), (3, True, False), (4, True, True))


def _residual_block(keras, x, expand, activation=None, stride=1, out=None):
    """MobileNetV2's inverted residual: expand 1x1 (ReLU6), depthwise 3x3 (ReLU6), project 1x1, and
    the ADD of the block input when the shape allows (then `activation` after it, fused by the
    converter)."""
    C = functools.partial(keras.layers.Conv2D, bias_initializer="random_normal")
    DW = functools.partial(keras.layers.DepthwiseConv2D, bias_initializer="random_normal")
    channels = x.shape[-1]
    y = C(channels * expand, 1, activation="relu6")(x)
    y = DW(3, strides=stride, padding="same", activation="relu6")(y)
    y = C(out or channels, 1)(y)
    if stride == 1 and (out or channels) == channels:
        y = keras.layers.Add()([x, y])
        if activation:
            y = keras.layers.Activation(activation)(y)
    return y


def _mini_mbv2(keras, inputs):
    C = functools.partial(keras.layers.Conv2D, bias_initializer="random_normal")
    x = C(8, 3, strides=2, padding="same", activation="relu6")(inputs)
    for expand, out, stride in ((2, 8, 1), (3, 12, 2), (3, 12, 1)):
        x = _residual_block(keras, x, expand, stride=stride, out=out)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.layers.Dense(5, bias_initializer="random_normal")(x)


def _residual_net(keras, inputs, activation=None):
    C = functools.partial(keras.layers.Conv2D, bias_initializer="random_normal")
    x = C(6, 3, padding="same", activation="relu")(inputs)  # below the branch point
    x = _residual_block(keras, x, 2, activation)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.layers.Dense(4, bias_initializer="random_normal")(x)


def _gated(keras, inputs, combine, activation=None):
    """A conv trained below a squeeze-and-excitation gate (GAP -> Dense -> Dense -> Reshape [1, 1, C],
    without clamps: random inputs push an int8 gate past its calibrated range, where a mask would
    stop what the float model passes) combined with the feature map (`combine`: Multiply or
    Subtract, the gate second, then `activation`): the error reaches the conv through both inputs.
"""
    C = functools.partial(keras.layers.Conv2D, bias_initializer="random_normal")
    D = functools.partial(keras.layers.Dense, bias_initializer="random_normal")
    x = C(6, 3, padding="same", activation="relu")(inputs)
    g = keras.layers.GlobalAveragePooling2D()(x)
    g = D(4)(g)
    g = D(6)(g)
    y = combine()([x, keras.layers.Reshape((1, 1, 6))(g)])
    if activation:
        y = keras.layers.Activation(activation)(y)
    y = keras.layers.GlobalAveragePooling2D()(y)
    return D(4)(y)


def _two_convs(keras, inputs, combine, activation=None):
    """Two convolutions of a trained conv's output combined element-wise (same shape)."""
    C = functools.partial(keras.layers.Conv2D, bias_initializer="random_normal")
    x = C(4, 1, activation="relu")(inputs)
    a = C(5, 1)(x)
    b = C(5, 3, padding="same", activation="relu6")(x)
    y = combine()([a, b])
    if activation:
        y = keras.layers.Activation(activation)(y)
    y = keras.layers.GlobalAveragePooling2D()(y)
    return keras.layers.Dense(3, bias_initializer="random_normal")(y)


def _concat_branches(keras, inputs):
    """Two branches of a trained conv (its output error is the sum of both branches': ACCUMULATE),
    concatenated on the channel axis (CONCATENATION backward: each branch its part of the error)."""
    C = functools.partial(keras.layers.Conv2D, bias_initializer="random_normal")
    DW = functools.partial(keras.layers.DepthwiseConv2D, bias_initializer="random_normal")
    x = C(6, 3, padding="same", activation="relu")(inputs)  # below the split point
    a = C(4, 1, activation="relu")(x)
    b = C(3, 1)(DW(3, padding="same", activation="relu6")(x))
    x = keras.layers.Concatenate()([a, b])
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.layers.Dense(4, bias_initializer="random_normal")(x)


def _concat_three(keras, inputs):
    """A 3-input concatenation, the tensor below among its inputs (as an inception or densenet
    block reads it), so that its error is the sum of three contributions."""
    C = functools.partial(keras.layers.Conv2D, bias_initializer="random_normal")
    x = C(5, 1, activation="relu")(inputs)
    a = C(3, 3, padding="same", activation="relu")(x)
    b = C(2, 1, activation="relu6")(x)
    x = keras.layers.Concatenate()([a, x, b])
    x = C(6, 1, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.layers.Dense(3, bias_initializer="random_normal")(x)


def _split_two_ways(keras, inputs):
    """A channel split (SPLIT: two STRIDED_SLICE ops) whose halves go through a conv and a depthwise
    conv, then ADD: the trained conv below gets each half's error in its range (ACCUMULATE)."""
    C = functools.partial(keras.layers.Conv2D, bias_initializer="random_normal")
    DW = functools.partial(keras.layers.DepthwiseConv2D, bias_initializer="random_normal")
    x = C(6, 3, padding="same", activation="relu")(inputs)
    a, b = keras.ops.split(x, 2, axis=-1)
    x = keras.layers.Add()([C(3, 1, activation="relu")(a), DW(3, padding="same")(b)])
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.layers.Dense(4, bias_initializer="random_normal")(x)


def _channel_range(keras, inputs):
    """A STRIDED_SLICE of channels 2..6: the dropped channels' error is 0."""
    C = functools.partial(keras.layers.Conv2D, bias_initializer="random_normal")
    x = C(8, 1, activation="relu")(inputs)
    x = C(4, 3, padding="same", activation="relu")(x[..., 2:7])
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.layers.Dense(3, bias_initializer="random_normal")(x)


def _split_v_concat(keras, inputs):
    """SPLIT_V into three unequal parts, joined again in another order (one through a conv)."""
    C = functools.partial(keras.layers.Conv2D, bias_initializer="random_normal")
    x = C(7, 1, activation="relu6")(inputs)
    a, b, c = keras.ops.split(x, [2, 5], axis=-1)
    x = keras.layers.Concatenate()([c, C(3, 1, activation="relu")(b), a])
    x = C(5, 1)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.layers.Dense(3, bias_initializer="random_normal")(x)


def cases() -> list[TrainingCase]:
    # Random (not zero) biases: the converter drops an all-zero bias, and a plan may train it.
    C = lambda keras: functools.partial(keras.layers.Conv2D, bias_initializer="random_normal")  # noqa: E731
    DW = lambda keras: functools.partial(keras.layers.DepthwiseConv2D,  # noqa: E731
                                         bias_initializer="random_normal")
    gap = lambda keras: keras.layers.GlobalAveragePooling2D()  # noqa: E731
    avg = lambda keras: keras.layers.AveragePooling2D  # noqa: E731
    flat = lambda keras: keras.layers.Flatten()  # noqa: E731
    dense = lambda keras, n, act=None: keras.layers.Dense(n, activation=act,  # noqa: E731
                                                          bias_initializer="random_normal")
    return [
        _case("t00_k3s1same_relu_gap", (8, 8, 2), lambda k: [C(k)(6, 3, padding="same", activation="relu"), gap(k),
                                                              dense(k, 5)], ALL2),
        _case("t01_k3s2same_relu6_flat", (9, 7, 3), lambda k: [C(k)(4, 3, strides=2, padding="same",
                                                                      activation="relu6"), flat(k), dense(k, 4)], ALL2),
        _case("t02_k5s2valid_none_flat", (11, 9, 2), lambda k: [C(k)(3, 5, strides=2), flat(k), dense(k, 3)], ALL2),
        _case("t03_k1_k3valid_gap", (7, 6, 3), lambda k: [C(k)(8, 1, activation="relu"),
                                                          C(k)(6, 3, activation="relu6"), gap(k), dense(k, 6)], ALL3),
        _case("t04_dense_stack", (6, 5, 1), lambda k: [flat(k), dense(k, 16, "relu"), dense(k, 12, "relu6"),
                                                       dense(k, 4)], ALL3),
        _case("t05_bias_only", (8, 8, 1), lambda k: [C(k)(5, 3, strides=2, padding="same", activation="relu"),
                                                     C(k)(7, 1, activation="relu6"), gap(k), dense(k, 5)],
              ((1, False, True), (2, False, True), (3, False, True))),
        _case("t06_weights_only", (8, 8, 2), lambda k: [C(k)(6, 3, padding="same", activation="relu6"), gap(k),
                                                        dense(k, 4)], ((1, True, False), (2, True, False))),
        _case("t07_crosses_frozen_conv", (9, 9, 1), lambda k: [C(k)(4, 3, activation="relu"),
                                                               C(k)(6, 3, padding="same", activation="relu"),
                                                               gap(k), dense(k, 5)], ((1, True, True), (3, True, True))),
        _case("t08_crosses_frozen_dense", (5, 5, 2), lambda k: [flat(k), dense(k, 10, "relu"), dense(k, 8),
                                                                dense(k, 3)], ((1, False, True), (3, True, True))),
        _case("t09_head_only", (6, 6, 3), lambda k: [C(k)(8, 3, strides=2, activation="relu"), gap(k), dense(k, 7)],
              ((1, True, True),)),
        _case("t10_k5s1same_relu_flat", (6, 5, 1), lambda k: [C(k)(3, 5, padding="same", activation="relu"), flat(k),
                                                              dense(k, 4)], ALL2),
        _case("t11_k3s2valid_relu6_gap", (9, 8, 2), lambda k: [C(k)(7, 3, strides=2, activation="relu6"), gap(k),
                                                               dense(k, 3)], ALL2),
        _case("t12_k1s2valid_none", (8, 8, 5), lambda k: [C(k)(3, 1, strides=2), gap(k), dense(k, 4)], ALL2),
        _case("t13_k5s2same_relu6", (11, 9, 3), lambda k: [C(k)(4, 5, strides=2, padding="same", activation="relu6"),
                                                           flat(k), dense(k, 5)], ALL2),
        _case("t14_two_k3s2", (12, 10, 1), lambda k: [C(k)(4, 3, strides=2, padding="same", activation="relu"),
                                                      C(k)(8, 3, strides=2, padding="same", activation="relu6"),
                                                      gap(k), dense(k, 6)], ALL3),
        _case("t15_wide_pointwise", (4, 4, 16), lambda k: [C(k)(24, 1, activation="relu6"), C(k)(13, 1), gap(k),
                                                           dense(k, 10)], ALL3),
        _case("t16_row_image", (1, 9, 3), lambda k: [C(k)(4, 3, padding="same", activation="relu"), flat(k),
                                                     dense(k, 3)], ALL2),
        _case("t17_column_image", (9, 1, 3), lambda k: [C(k)(4, 3, padding="same", activation="relu6"), flat(k),
                                                        dense(k, 3)], ALL2),
        _case("t18_dense_relu_head", (4, 4, 2), lambda k: [flat(k), dense(k, 9, "relu"), dense(k, 5)], ALL2),
        _case("t19_k2_k4_mixed", (9, 10, 1), lambda k: [C(k)(5, 2, activation="relu"),
                                                        C(k)(3, 4, strides=2, padding="same"), gap(k),
                                                        dense(k, 4)], ALL3),
        _case("t20_deep_chain_bias", (8, 8, 1), lambda k: [C(k)(4, 3, padding="same", activation="relu"),
                                                           C(k)(6, 1, activation="relu6"), C(k)(5, 1, activation="relu"),
                                                           gap(k), dense(k, 4)],
              ((1, True, True), (2, False, True), (3, True, False), (4, False, True))),
        _case("t21_dense_from_4d", (3, 3, 4), lambda k: [C(k)(6, 1, activation="relu"), flat(k), dense(k, 8, "relu6"),
                                                         dense(k, 3)], ALL3),
        # A final softmax: the loss takes its input, the logits.
        _case("t22_softmax_head", (6, 6, 2), lambda k: [C(k)(5, 3, activation="relu"), gap(k),
                                                        dense(k, 4, "softmax")], ALL2),
        # Channel subsets: a ratio (the first channels) and an explicit list.
        _case("t23_half_channels", (8, 8, 2), lambda k: [C(k)(8, 3, padding="same", activation="relu"),
                                                         C(k)(6, 1, activation="relu6"), gap(k), dense(k, 5)],
              ((1, True, True), (2, True, True, "1/2"), (3, False, True, "1/4"))),
        _case("t24_listed_channels", (6, 6, 3), lambda k: [C(k)(7, 3, activation="relu"), flat(k), dense(k, 6)],
              ((1, True, True, [0, 2, 5]), (2, True, True, [1, 3, 4, 6]))),
        # Depthwise: its input error reaches a trained conv below it.
        _case("t25_dw_k3s1same_relu", (7, 6, 3), lambda k: [C(k)(5, 1, activation="relu"),
                                                            DW(k)(3, padding="same", activation="relu"), gap(k),
                                                            dense(k, 4)], ALL3),
        _case("t26_dw_k3s2valid_relu6", (9, 8, 3), lambda k: [C(k)(6, 1, activation="relu6"),
                                                              DW(k)(3, strides=2, activation="relu6"), flat(k),
                                                              dense(k, 4)], ALL3),
        _case("t27_dw_k3s2same_first", (9, 7, 4), lambda k: [DW(k)(3, strides=2, padding="same"),
                                                             C(k)(5, 1, activation="relu"), gap(k), dense(k, 3)], ALL3),
        _case("t28_dw_k5s1valid_relu6", (8, 8, 3), lambda k: [C(k)(4, 1, activation="relu"),
                                                              DW(k)(5, activation="relu6"), gap(k), dense(k, 5)],
              ((1, True, True), (2, True, False), (3, False, True))),
        _case("t29_dw_k3s1valid_none_frozen", (7, 7, 2), lambda k: [C(k)(6, 3, padding="same", activation="relu6"),
                                                                    DW(k)(3), C(k)(4, 1), gap(k), dense(k, 3)],
              ((1, True, True), (4, True, True))),
        # Residual blocks: the error at the block input is the sum of the skip's and the branch's.
        _functional_case("t30_residual_trained_below", (6, 6, 2), _residual_net, ALL4 + ((5, True, True),)),
        _functional_case("t31_residual_relu_frozen_branch", (5, 7, 3),
                         lambda keras, i: _residual_net(keras, i, "relu"), ((1, True, True), (5, True, True))),
        _functional_case("t32_mini_mbv2", (12, 12, 1), _mini_mbv2,
                         ((1, True, True), (2, True, True), (3, True, True), (4, False, True), (5, False, True),
                          (6, False, True), (7, False, True), (8, False, True))),
        # Average pooling with full windows, with clipped ones (SAME), and after a PAD.
        _case("t33_avgpool_k2s2", (8, 6, 3), lambda k: [C(k)(4, 3, padding="same", activation="relu"), avg(k)(2),
                                                        flat(k), dense(k, 4)], ALL2),
        _case("t34_avgpool_k3s2same", (7, 9, 2), lambda k: [C(k)(5, 1, activation="relu6"),
                                                            avg(k)(3, strides=2, padding="same"),
                                                            C(k)(4, 1), gap(k), dense(k, 3)], ALL3),
        _case("t35_pad_avgpool", (5, 6, 2), lambda k: [C(k)(3, 1, activation="relu"),
                                                       k.layers.ZeroPadding2D(((1, 2), (2, 0))), avg(k)(2),
                                                       flat(k), dense(k, 4)], ALL2),
        # The DSP kernels' tails (backward_s8.cpp pointwise_*, backward_depthwise.cpp quad_gradients):
        # odd channel counts (not multiples of 2 or 4), an odd number of positions (5 x 5), an odd
        # number of planned channels, a depthwise layer with a whole channel quad and three channels
        # past it, FULLY_CONNECTED layers of odd depth and width.
        _case("t36_pointwise_odd", (5, 5, 7), lambda k: [C(k)(9, 1, activation="relu"), C(k)(5, 1, activation="relu6"),
                                                          gap(k), dense(k, 3)],
              ((1, True, True), (2, True, True, [0, 2, 4]), (3, True, True))),
        _case("t37_dw_odd", (7, 5, 3), lambda k: [C(k)(7, 1, activation="relu6"),
                                                  DW(k)(3, padding="same", activation="relu6"), C(k)(5, 1), gap(k),
                                                  dense(k, 3)], ALL4),
        _case("t38_dense_odd", (3, 3, 1), lambda k: [flat(k), dense(k, 7, "relu"), dense(k, 5, "relu6"),
                                                     dense(k, 3)], ALL3),
        _case("t39_dw_odd_stride2", (9, 7, 5), lambda k: [C(k)(9, 1, activation="relu"),
                                                          DW(k)(3, strides=2, activation="relu"), C(k)(3, 1), gap(k),
                                                          dense(k, 3)], ALL4),
        # Gradient filtering: odd H and W (clipped edge patches), the filtered input error reaching
        # filtered and unfiltered layers, bias-only filtered layers, channel subsets.
        _case("t40_gf2_pointwise_odd", (7, 5, 3), lambda k: [C(k)(6, 1, activation="relu6"),
                                                             C(k)(5, 1, activation="relu"), gap(k), dense(k, 4)],
              ((1, True, True), (2, True, True, GF2), (3, True, True, GF2))),
        _case("t41_gf4_k3_edges", (10, 9, 2), lambda k: [C(k)(4, 3, padding="same", activation="relu"),
                                                         C(k)(6, 3, padding="same", activation="relu6"), gap(k),
                                                         dense(k, 3)],
              ((1, True, True), (2, True, True, GF4), (3, True, False, GF4))),
        _case("t42_gf2_dw_between", (9, 7, 3), lambda k: [C(k)(5, 1, activation="relu"),
                                                          DW(k)(3, padding="same", activation="relu6"),
                                                          C(k)(4, 1), gap(k), dense(k, 3)],
              ((1, True, True), (2, True, True, GF2), (3, True, True, "1/2", GF2), (4, True, True))),
        _case("t43_gf4_dw_first_bias_only", (8, 8, 4), lambda k: [DW(k)(3, padding="same", activation="relu"),
                                                                  C(k)(5, 1, activation="relu6"), gap(k),
                                                                  dense(k, 4)],
              ((1, True, True), (2, False, True, GF4), (3, True, True, GF4))),
        # A depthwise filter over kListedTaps (25) taps: its input error gathers tap by tap.
        _case("t44_dw_k7_gathered", (9, 8, 2), lambda k: [C(k)(3, 1, activation="relu"),
                                                          DW(k)(7, padding="same", activation="relu6"), gap(k),
                                                          dense(k, 3)], ALL3),
        # A standalone RELU (after MEAN, where TFLite cannot fuse it): the error crosses its clamp's mask.
        _case("t45_relu_after_mean", (7, 6, 3), lambda k: [C(k)(6, 3, padding="same"), gap(k), k.layers.ReLU(),
                                                           dense(k, 4)], ALL2),
        _case("t46_relu_after_mean_dw", (6, 6, 2), lambda k: [C(k)(5, 1), DW(k)(3, padding="same"), gap(k),
                                                              k.layers.ReLU(), dense(k, 3)], ALL3),
        # MAX_POOL_2D: each window's error to its (first) maximum; ReLU's zeros make ties.
        _case("t47_maxpool_k2s2", (8, 7, 2), lambda k: [C(k)(6, 3, activation="relu"), k.layers.MaxPooling2D(2),
                                                        flat(k), dense(k, 4)], ALL2),
        _case("t48_maxpool_k3s2same_overlap", (9, 9, 3), lambda k: [
            C(k)(5, 3, padding="same", activation="relu6"), k.layers.MaxPooling2D(3, strides=2, padding="same"),
            C(k)(4, 1), gap(k), dense(k, 3)], ALL3),
        # Dilation, depth multipliers and strides 3 and 4 (portable paths of backward_s8.cpp and
        # backward_depthwise.cpp), each between trained layers so that its input error is used.
        _case("t50_conv_dilated", (12, 11, 2), lambda k: [C(k)(4, 1, activation="relu"),
                                                         C(k)(6, 3, dilation_rate=2, padding="same", activation="relu"),
                                                         C(k)(5, 2, dilation_rate=(1, 3), activation="relu6"),
                                                         gap(k), dense(k, 3)], ALL4),
        _case("t51_dw_multiplier2", (8, 7, 3), lambda k: [C(k)(4, 1, activation="relu"),
                                                          DW(k)(3, depth_multiplier=2, padding="same",
                                                                activation="relu6"),
                                                          C(k)(5, 1), gap(k), dense(k, 3)], ALL4),
        _case("t52_dw_dilated_multiplier_stride4", (13, 12, 3), lambda k: [
            C(k)(4, 1, activation="relu6"), DW(k)(3, dilation_rate=2, padding="same", activation="relu"),
            DW(k)(3, strides=4, depth_multiplier=3, padding="same", activation="relu6"), gap(k), dense(k, 3)],
              ((1, True, True), (2, True, True, [0, 4, 5, 11]), (3, True, True), (4, True, True))),
        _case("t53_conv_stride3_stride4", (17, 16, 2), lambda k: [C(k)(5, 1, activation="relu"),
                                                                  C(k)(7, 3, strides=3, padding="same",
                                                                    activation="relu"),
                                                                  C(k)(4, 2, strides=4, padding="same"), gap(k),
                                                                  dense(k, 3)], ALL4),
        # Windows further apart than they are wide (stride 3, 2x2: elements no window covers), and
        # overlapping none (3x3, stride 3, clipped by SAME).
        _case("t54_pools_stride3", (13, 12, 2), lambda k: [C(k)(4, 3, padding="same", activation="relu"),
                                                           avg(k)(2, strides=3), C(k)(6, 1, activation="relu6"),
                                                           k.layers.MaxPooling2D(3, strides=3, padding="same"),
                                                           flat(k), dense(k, 3)], ALL3),
        # Element-wise derivatives (LEAKY_RELU, and LOGISTIC, TANH, HARD_SWISH as the LUT op): standalone
        # after a convolution or a dense layer (the converter does not fuse them), the error times the
        # derivative at the kept input reaching a trained layer below.
        _case("t55_leaky_relu_after_conv", (7, 6, 2), lambda k: [C(k)(6, 3, padding="same"), k.layers.LeakyReLU(0.2),
                                                                 gap(k), dense(k, 4)], ALL2),
        _case("t56_sigmoid_after_conv", (6, 7, 3), lambda k: [C(k)(5, 1), k.layers.Activation("sigmoid"),
                                                              DW(k)(3, padding="same"), gap(k), dense(k, 3)], ALL3),
        _case("t57_tanh_after_conv", (8, 6, 2), lambda k: [C(k)(6, 3), k.layers.Activation("tanh"), gap(k),
                                                           dense(k, 4)], ALL2),
        _case("t58_hard_swish_after_conv", (7, 7, 3), lambda k: [C(k)(6, 3, padding="same"),
                                                                 k.layers.Activation("hard_swish"), gap(k),
                                                                 dense(k, 3)], ALL2),
        _case("t59_activations_dense_stack", (3, 4, 2), lambda k: [flat(k), dense(k, 12), k.layers.LeakyReLU(0.1),
                                                                   dense(k, 10), k.layers.Activation("tanh"),
                                                                   dense(k, 8), k.layers.Activation("hard_swish"),
                                                                   dense(k, 6), k.layers.Activation("sigmoid"),
                                                                   dense(k, 4)], ALL4 + ((5, True, True),)),
        # MUL: a squeeze-and-excitation gate (broadcast: the gate's error sums over H and W), the error
        # reaching the conv below through both inputs (ACCUMULATE); two branches of the same shape
        # with a fused ReLU (mask); a scalar constant factor (Rescaling).
        # (The converter folds the first gate layer's bias into the second's: its weights train.)
        _functional_case("t65_mul_se_gate", (6, 5, 2), lambda keras, i: _gated(keras, i, keras.layers.Multiply),
                         GATED),
        _functional_case("t66_mul_same_shape_relu", (5, 6, 3),
                         lambda keras, i: _two_convs(keras, i, keras.layers.Multiply, "relu"), ALL4),
        _case("t67_mul_scalar", (7, 6, 2), lambda k: [C(k)(4, 1, activation="relu"), C(k)(5, 3, activation="relu"),
                                                      k.layers.Rescaling(0.37), gap(k), dense(k, 3)], ALL3),
        # SUB: a gate subtracted from its feature map (broadcast, the negated error summed over H
        # and W), with a fused ReLU (mask).
        _functional_case("t68_sub_gate_relu", (5, 6, 2),
                         lambda keras, i: _gated(keras, i, keras.layers.Subtract, "relu"), GATED),
        # MEAN over the width only (not H and W), feeding a Dense through a Flatten.
        _case("t69_mean_width_dense", (6, 7, 2), lambda k: [C(k)(4, 1, activation="relu"),
                                                            C(k)(5, 3, padding="same", activation="relu"),
                                                            k.layers.Lambda(lambda t: k.ops.mean(t, axis=2)), flat(k),
                                                            dense(k, 3)], ALL3),
        # CONCATENATION: each input its part of the output error; fan-out below accumulates.
        _functional_case("t60_concat_branches", (7, 6, 2), _concat_branches, ALL4 + ((5, True, True),)),
        _functional_case("t61_concat_three", (6, 6, 3), _concat_three, ALL4 + ((5, True, True),)),
        # STRIDED_SLICE, SPLIT and SPLIT_V (channel ranges): the input error is each range's error, 0 elsewhere.
        _functional_case("t62_split_two_ways", (6, 6, 2), _split_two_ways, ALL4),
        _functional_case("t63_channel_range", (7, 5, 3), _channel_range, ALL3),
        _functional_case("t64_split_v_concat", (5, 6, 3), _split_v_concat, ALL4),
    ]
