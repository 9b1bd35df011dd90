"""The fp32 yardstick: update specs, training plans (quantize/training_plan.py) mapped to Keras
layers, parameter selection and `mcutrain baseline` end to end."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from quantize.errors import FinetuneError
from quantize.errors import PlanError
from quantize.finetune import (
    count_trainable,
    finetune,
    keras_layers_by_op,
    logits_model,
    parse_update,
    select_parameters,
    with_fresh_head,
)
from quantize.models import load_reference_model
from quantize.tflite_model import parse_tflite
from quantize.training_plan import PlannedLayer, TrainingPlan

JSON_KEYS = ["model", "data", "update", "epochs", "test_accuracy", "trainable_params", "seconds"]


@pytest.fixture
def fresh_model():
    return with_fresh_head(load_reference_model("ref").keras_model(), 10, seed=0)


@pytest.fixture
def pretrained_model():
    return load_reference_model("ref").keras_model()


def write_plan(tmp_path, *layers: dict, **fields) -> str:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({"version": 2, **fields, "trainable": list(layers)}))
    return f"plan:{path}"


# ---------------------------------------------------------------- a trailing Softmax

@pytest.mark.parametrize("ending", ["softmax layer", "softmax activation", "dense activation", "logits"])
def test_logits_model_drops_a_trailing_softmax_and_keeps_the_head(ending):
    """The yardstick's loss is cross-entropy on logits, as the device's: whatever way the user's
    model ends in Softmax, the model trained is the one ending in the last Dense's logits."""
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((6,))
    dense = keras.layers.Dense(4, activation="softmax" if ending == "dense activation" else None)
    x = dense(inputs)
    if ending == "softmax layer":
        x = keras.layers.Softmax()(x)
    elif ending == "softmax activation":
        x = keras.layers.Activation("softmax")(x)
    sample = np.linspace(-1, 1, 6, dtype=np.float32)[None]
    expected = sample @ dense.kernel.numpy() + dense.bias.numpy()

    model = logits_model(keras.Model(inputs, x))
    assert model.layers[-1] is dense
    np.testing.assert_allclose(model(sample).numpy(), expected, rtol=1e-5)
    assert with_fresh_head(model, 3, seed=0).output_shape == (None, 3)


# ---------------------------------------------------------------- --update parsing


def test_parse_update_modes(tmp_path):
    assert parse_update("head", "ref").mode == "head" and parse_update("full", "ref").mode == "full"
    assert parse_update("last:3", "ref").last_layers == 3
    spec = parse_update(write_plan(tmp_path, {"op": 20, "weights": True, "channels": "1/2"}), "ref")
    assert spec.mode == "plan" and [(layer.op, layer.channels) for layer in spec.plan.layers] == [(20, 0.5)]
    demo = parse_update("plan:demo", "ref")  # a name: quantize/models/ref/plans/demo.json
    assert demo.plan.name == "demo" and [layer.op for layer in demo.plan.layers] == [22, 20, 19]


@pytest.mark.parametrize("text", ["last:0", "last:x", "last:", "everything", "plan", "plan:"])
def test_parse_update_rejects(text):
    with pytest.raises(FinetuneError, match=rf"--update {text}: expected"):
        parse_update(text, "ref")


@pytest.mark.parametrize(
    "layers, message",
    [
        ([{"op": 20, "weights": True, "channels": 0.3}], r"plan.json: trainable\[0\].channels: expected 1, 1/2"),
        ([{"op": 9, "bias": True}], r"plan.json: operator 9 is ADD, which has no parameters"),
        ([{"op": 99, "bias": True}], r"plan.json: operator 99: the model has 23 operators"),
        ([{"op": 19, "bias": True, "channels": [47, 48]}], r"trainable\[0\].channels: channel 48 is out of range"),
    ],
)
def test_bad_plans_are_refused_before_training(tmp_path, layers, message):
    with pytest.raises(PlanError, match=message):
        parse_update(write_plan(tmp_path, *layers), "ref")


def test_unknown_plan_lists_the_models_plans(tmp_path):
    with pytest.raises(PlanError, match=r"model ref has no plan of that name \(its plans: demo, demo-gf2, demo-gf4, head\)"):
        parse_update(f"plan:{tmp_path / 'nothing.json'}", "ref")
    with pytest.raises(PlanError, match=r"training plan 'demo': .* model mbv2-w0.35-128 .* \(its plans: head, sparse, sparse-gf2\)"):
        parse_update("plan:demo", "mbv2-w0.35-128")


# ---------------------------------------------------------------- which parameters are trained


def test_parameter_counts(fresh_model):
    def count(text: str) -> int:
        return count_trainable(select_parameters(fresh_model, parse_update(text, "ref")))

    head = 128 * 10 + 10
    assert count("head") == head and count("full") == fresh_model.count_params()
    biases = sum(int(l.bias.shape[0]) for l in fresh_model.layers[:-1] if getattr(l, "bias", None) is not None)
    assert count("bias") == biases + head
    assert count("last:1") == fresh_model.get_layer("last_conv").count_params() + head


def test_operators_map_to_their_keras_layers(pretrained_model):
    graph = parse_tflite(load_reference_model("ref").tflite_bytes())
    layers = keras_layers_by_op(pretrained_model, graph)
    assert len(layers) == 20 and 9 not in layers  # 20 parametric operators; 9 is an ADD
    assert {op: layers[op].name for op in (0, 1, 18, 19, 20, 22)} == {
        0: "stem_conv", 1: "b1_dw", 18: "b6_dw", 19: "b6_project", 20: "last_conv", 22: "logits"}


def test_plan_selects_planned_parameters_and_channels(pretrained_model, tmp_path):
    update = parse_update(write_plan(tmp_path, {"op": 19, "bias": True}, {"op": 22, "bias": True},
                                     {"op": 20, "weights": True, "channels": "1/4"},
                                     {"op": 18, "weights": True, "bias": True, "channels": [0, 3, 127]}), "ref")
    selected = select_parameters(pretrained_model, update)
    assert [v.path for v, _ in selected] == ["b6_project/bias", "logits/bias", "last_conv/kernel", "b6_dw/kernel",
                                             "b6_dw/bias"]
    # b6_project bias 48 + logits bias 10 + a quarter of last_conv's 48 x 128 kernel + 3 of b6_dw's 3 x 3 x 128
    # channels, and their 3 biases
    assert count_trainable(selected) == 48 + 10 + 48 * 32 + 9 * 3 + 3
    masks = dict((v.path, mask) for v, mask in selected)
    assert masks["b6_project/bias"] is None and masks["last_conv/kernel"].shape == (1, 1, 48, 128)
    assert masks["last_conv/kernel"][..., :32].all() and not masks["last_conv/kernel"][..., 32:].any()
    assert np.flatnonzero(masks["b6_dw/kernel"][1, 1, :, 0]).tolist() == [0, 3, 127]
    assert np.flatnonzero(masks["b6_dw/bias"]).tolist() == [0, 3, 127]


@pytest.mark.slow
def test_the_bias_of_a_conv_followed_by_batchnorm_is_the_batchnorms_beta():
    # mbv2 keeps its BatchNormalizations: the int8 bias of Conv1 (operator 0) folds bn_Conv1's beta.
    head = parse_update("plan:head", "mbv2-w0.35-128")
    model = load_reference_model("mbv2-w0.35-128").keras_model()
    assert [v.path for v, _ in select_parameters(model, head)] == ["predictions/kernel"]
    stem = replace(head, plan=TrainingPlan((PlannedLayer(0, True, True, 0.5),)))
    selected = select_parameters(model, stem)
    assert [v.path for v, _ in selected] == ["Conv1/kernel", "bn_Conv1/beta"]
    assert count_trainable(selected) == 3 * 3 * 3 * 8 + 8


def test_last_n_larger_than_the_model(fresh_model):
    with pytest.raises(FinetuneError, match=r"--update last:99: model 'ref' has only \d+ layers with weights"):
        select_parameters(fresh_model, parse_update("last:99", "ref"))


# ---------------------------------------------------------------- training


@pytest.fixture(scope="module")
def tiny_mnist():
    from mcutrain_datasets import load_dataset

    data = load_dataset("mnist5k", limit=96, test_limit=64)
    return data.x_train, data.y_train, data.x_test, data.y_test


@pytest.mark.slow
def test_finetune_with_the_demo_plan_changes_only_the_planned_parameters(pretrained_model, tiny_mnist):
    before = {v.path: v.numpy().copy() for v in pretrained_model.weights}
    x_train, y_train, x_test, y_test = tiny_mnist
    finetune(pretrained_model, x_train[:32], y_train[:32], x_test, y_test, parse_update("plan:demo", "ref"), epochs=1)
    changed = {v.path for v in pretrained_model.weights if not np.array_equal(before[v.path], v.numpy())}
    assert changed == {f"{layer}/{variable}" for layer in ("logits", "last_conv", "b6_project")
                       for variable in ("kernel", "bias")}


@pytest.mark.slow
def test_finetune_leaves_the_unplanned_channels_unchanged(pretrained_model, tmp_path, tiny_mnist):
    update = parse_update(write_plan(tmp_path, {"op": 19, "bias": True, "channels": [1, 40]},
                                     {"op": 20, "weights": True, "channels": "1/2"}, {"op": 22, "weights": True},
                                     lr=0.05, lr_schedule={"cosine": 20}), "ref")
    before = {v.path: v.numpy().copy() for v in pretrained_model.weights}
    x_train, y_train, x_test, y_test = tiny_mnist
    finetune(pretrained_model, x_train[:32], y_train[:32], x_test, y_test, update, epochs=1)
    after = {v.path: v.numpy() for v in pretrained_model.weights}
    changed = {path for path in before if not np.array_equal(before[path], after[path])}
    assert changed == {"b6_project/bias", "last_conv/kernel", "logits/kernel"}
    bias, old_bias = after["b6_project/bias"], before["b6_project/bias"]
    assert np.flatnonzero(bias != old_bias).tolist() == [1, 40]
    kernel, old_kernel = after["last_conv/kernel"], before["last_conv/kernel"]
    assert not np.array_equal(kernel[..., :64], old_kernel[..., :64])
    assert np.array_equal(kernel[..., 64:], old_kernel[..., 64:])


@pytest.mark.slow
def test_finetune_follows_the_plans_learning_rate_schedule_step_by_step(tmp_path, tiny_mnist):
    # Cosine over 1 step: only the first SGD step has a non-zero rate, so a second epoch changes nothing.
    x_train, y_train, x_test, y_test = tiny_mnist
    kernels = []
    for epochs in (1, 2):
        model = load_reference_model("ref").keras_model()
        update = parse_update(write_plan(tmp_path, {"op": 22, "weights": True}, lr_schedule={"cosine": 1}), "ref")
        finetune(model, x_train[:8], y_train[:8], x_test, y_test, update, epochs=epochs)
        kernels.append(model.get_layer("logits").kernel.numpy())
    assert np.array_equal(kernels[0], kernels[1])
    assert not np.array_equal(kernels[0], load_reference_model("ref").keras_model().get_layer("logits").kernel.numpy())


@pytest.mark.slow
def test_finetune_is_reproducible(tiny_mnist):
    results = []
    for _ in range(2):
        model = with_fresh_head(load_reference_model("ref").keras_model(), 10, seed=0)
        finetune(model, *tiny_mnist, parse_update("last:2", "ref"), epochs=1)
        results.append(model.get_layer("logits").kernel.numpy())
    assert np.array_equal(results[0], results[1])


@pytest.mark.slow
def test_baseline_command_end_to_end(capsys):
    from host_tools.cli import main

    argv = ["baseline", "--model", "ref", "--data", "mnist5k", "--update", "head", "--epochs", "2",
            "--limit", "1000", "--test-limit", "300", "--json"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert list(result) == JSON_KEYS
    assert result["model"] == "ref" and result["update"] == "head" and result["epochs"] == 2
    assert result["trainable_params"] == 1290 and result["seconds"] > 0
    assert result["test_accuracy"] > 0.3  # 0.44 measured; chance is 0.1


def test_baseline_command_reports_bad_input_in_one_line(tmp_path, capsys):
    from host_tools.cli import main

    bad = tmp_path / "plan.json"
    bad.write_text('{"weight_layers": {"logits": 3}}')
    assert main(["baseline", "--update", f"plan:{bad}"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("mcutrain: error: ") and str(bad) in err and "\n" not in err
    assert main(["baseline", "--data", "npz:/nonexistent/x.npz"]) == 1
    assert "x.npz: file not found" in capsys.readouterr().err
    with pytest.raises(SystemExit) as refused:  # refused by the parser, before TensorFlow loads
        main(["baseline", "--epochs", "0"])
    assert refused.value.code == 2
    assert "argument --epochs: expected at least 1, got 0" in capsys.readouterr().err


@pytest.mark.slow
def test_baseline_with_a_plan_name_end_to_end(capsys, tmp_path):
    from host_tools.cli import main

    # No --epochs: the demo plan's 2 epochs; one sample per SGD step at the plan's lr.
    argv = ["baseline", "--update", "plan:demo", "--limit", "16", "--test-limit", "32", "--json"]
    assert main(argv) == 0, capsys.readouterr().err
    result = json.loads(capsys.readouterr().out)
    assert result["update"] == "plan:demo" and result["epochs"] == 2
    # The pretrained head (10 x 128 + 10), last_conv (48 x 128 + 128) and b6_project (128 x 48 + 48).
    assert result["trainable_params"] == 1290 + 6272 + 6192
    # The plan keeps the model's own head: data with more classes than it has outputs is refused
    # (fewer are fine: tests/test_user_data.py trains classes 5..9 of its 10).
    twelve = tmp_path / "twelve.npz"
    rng = np.random.default_rng(0)
    np.savez(twelve, x=rng.integers(0, 256, (36, 28, 28), dtype=np.uint8), y=np.arange(36) % 12)
    assert main(["baseline", "--update", "plan:demo", "--data", f"npz:{twelve}"]) == 1
    assert capsys.readouterr().err.strip() == (
        "mcutrain: error: --update plan:demo: a plan trains ref's own head in place, as the device does; "
        f"it has 10 outputs, npz:{twelve} has 12 classes")
