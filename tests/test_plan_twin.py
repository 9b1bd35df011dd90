"""The contribution analysis's fp32 twin (quantize/planning/float_twin.py) is the int8 model the
device holds, in float: its predictions agree with the golden int8 forward pass, and its gradients,
filtered or not, point where the golden reference's do (the device's arithmetic, itself checked
against TensorFlow's autodiff in tests/test_training_gradients.py)."""

from __future__ import annotations

import numpy as np
import pytest

from quantize import golden
from quantize.models import load_reference_model
from quantize.planning.float_twin import FloatTwin
from quantize.tflite_model import parse_tflite
from quantize.training.program import derive_program
from quantize.training.step import GoldenTrainer
from quantize.training_plan import PlannedLayer, TrainingPlan
from tests.tf_autodiff import cosine

SAMPLES = 3
# Measured: 0.977 and above for r = 1, 2, 4 (int8 rounding is all that differs); filtering itself
# moves op 17's gradient to cosine 0.70 of the exact one.
MIN_COSINE = 0.95
# ref: 17 the last block's 1x1 expansion, 18 its depthwise, 19 the projection, 20 last_conv, 22 the head.
TRAINED = (20, 19, 18, 17)


@pytest.fixture(scope="module")
def ref():
    from mcutrain_datasets import load_dataset
    from mcutrain_datasets.preprocess import InputQuantization, preprocess_int8

    model = load_reference_model("ref")
    graph = parse_tflite(model.tflite_bytes())
    entry = graph.tensor(graph.int8_input)
    data = load_dataset("mnist5k", image_shape=(28, 28, 1))
    x = preprocess_int8(data.x_test[:100], model.model_input, InputQuantization(entry.scale, entry.zero_point))
    return graph, x, data.y_test[:100]


def test_the_twin_predicts_what_the_int8_model_does(ref):
    graph, x, _ = ref
    twin = FloatTwin(graph)
    logits = np.asarray(twin.run({twin.entry.index: twin.real_input(x)}, 0, {})[twin.logits]).reshape(len(x), -1)
    int8 = np.array([np.argmax(golden.run_output(graph, sample[None])) for sample in x])
    assert np.mean(np.argmax(logits, axis=1) == int8) >= 0.9


def _twin_gradients(twin: FloatTwin, graph, x: np.ndarray, label: int, filters: dict[int, int]) -> dict:
    """dL/dW of the TRAINED layers' weights in TFLite's layouts, one sample."""
    import tensorflow as tf

    tensors = [graph.operators[op].inputs[1] for op in TRAINED]
    with tf.GradientTape() as tape:
        logits = twin.run({twin.entry.index: twin.real_input(x[None])}, 0, filters)[twin.logits]
        loss = tf.nn.sparse_softmax_cross_entropy_with_logits([label], tf.reshape(logits, (1, -1)))
    grads = tape.gradient(loss, [twin.variables[t] for t in tensors])
    # TensorFlow's layouts back to TFLite's: conv [KH,KW,I,O] -> [O,KH,KW,I], depthwise [KH,KW,C,1] -> [1,KH,KW,C]
    return {op: np.transpose(g.numpy(), (3, 0, 1, 2)) for op, g in zip(TRAINED, grads)}


@pytest.mark.parametrize("r", [1, 2, 4])
def test_the_twins_gradients_point_where_the_golden_references_do(ref, r):
    graph, x, y = ref
    twin = FloatTwin(graph)
    plan = TrainingPlan((PlannedLayer(22, True, True),
                         *(PlannedLayer(op, True, True, gradient_filter=r) for op in TRAINED)))
    program = derive_program(graph, plan)
    for i in range(SAMPLES):
        reference: dict = {}
        GoldenTrainer(graph, program).step(x[i], int(y[i]), 0.01, reference)
        twin_grads = _twin_gradients(twin, graph, x[i], int(y[i]), {op: r for op in TRAINED} if r > 1 else {})
        for op in TRAINED:
            assert cosine(twin_grads[op], reference[("weights", op)]) >= MIN_COSINE, (op, r, i)


def test_filtering_changes_the_twins_gradients(ref):
    """A filter the twin ignored would pass the test above only where filtering changes little."""
    graph, x, y = ref
    twin = FloatTwin(graph)
    exact = _twin_gradients(twin, graph, x[0], int(y[0]), {})
    filtered = _twin_gradients(twin, graph, x[0], int(y[0]), {op: 4 for op in TRAINED})
    assert cosine(exact[17], filtered[17]) < 0.9
