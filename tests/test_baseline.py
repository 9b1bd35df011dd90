"""The fp32 yardstick: update specs, plan files, parameter selection and `mcutrain baseline` end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from quantize.errors import FinetuneError
from quantize.finetune import count_trainable, finetune, parse_update, select_parameters, with_fresh_head
from quantize.models import load_reference_model

JSON_KEYS = ["model", "data", "update", "epochs", "test_accuracy", "trainable_params", "seconds"]


@pytest.fixture
def fresh_model():
    return with_fresh_head(load_reference_model("ref").keras_model(), 10, seed=0)


def write_plan(tmp_path, plan) -> str:
    path = tmp_path / "plan.json"
    path.write_text(plan if isinstance(plan, str) else json.dumps(plan))
    return f"plan:{path}"


# ---------------------------------------------------------------- --update parsing


def test_parse_update_modes(tmp_path):
    assert parse_update("head").mode == "head" and parse_update("full").mode == "full"
    assert parse_update("last:3").last_layers == 3
    spec = parse_update(write_plan(tmp_path, {"bias_layers": ["logits"], "weight_layers": {"last_conv": 0.5}}))
    assert spec.mode == "plan" and spec.bias_layers == ("logits",) and spec.weight_layers == {"last_conv": 0.5}


@pytest.mark.parametrize("text", ["last:0", "last:x", "last:", "everything", "plan"])
def test_parse_update_rejects(text):
    with pytest.raises(FinetuneError, match=rf"--update {text}: expected"):
        parse_update(text)


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", r"plan.json: not valid JSON"),
        ("[1, 2]", r"plan.json: expected a JSON object"),
        ({"bias_layer": ["logits"]}, r"plan.json: unknown key 'bias_layer'"),
        ({"bias_layers": "logits"}, r"plan.json: 'bias_layers' must be a list of layer names"),
        ({"weight_layers": ["logits"]}, r"plan.json: 'weight_layers' must be an object"),
        ({"weight_layers": {"logits": 0.3}}, r"plan.json: 'weight_layers' ratio 0.3 of layer 'logits', expected one of"),
        ({"weight_layers": {"logits": True}}, r"ratio True of layer 'logits'"),
        ({"bias_layers": [], "weight_layers": {}}, r"plan.json: the plan updates nothing"),
    ],
)
def test_bad_plan_files(tmp_path, content, message):
    with pytest.raises(FinetuneError, match=message):
        parse_update(write_plan(tmp_path, content))


def test_missing_plan_file(tmp_path):
    with pytest.raises(FinetuneError, match=r"nothing.json: plan file not found"):
        parse_update(f"plan:{tmp_path / 'nothing.json'}")


# ---------------------------------------------------------------- which parameters are trained


def test_parameter_counts(fresh_model):
    head = 128 * 10 + 10
    assert count_trainable(select_parameters(fresh_model, parse_update("head"))) == head
    assert count_trainable(select_parameters(fresh_model, parse_update("full"))) == fresh_model.count_params()
    biases = sum(int(l.bias.shape[0]) for l in fresh_model.layers[:-1] if getattr(l, "bias", None) is not None)
    assert count_trainable(select_parameters(fresh_model, parse_update("bias"))) == biases + head
    last_conv = fresh_model.get_layer("last_conv").count_params()
    assert count_trainable(select_parameters(fresh_model, parse_update("last:1"))) == last_conv + head


def test_plan_selects_named_parameters_and_channel_fractions(fresh_model, tmp_path):
    update = parse_update(
        write_plan(tmp_path, {"bias_layers": ["b6_project", "logits"], "weight_layers": {"last_conv": 0.25, "b6_dw": 0.5}})
    )
    selected = select_parameters(fresh_model, update)
    # b6_project bias 48 + logits bias 10 + a quarter of last_conv's 48x128 kernel + half of b6_dw's 3x3x128 kernel
    assert count_trainable(selected) == 48 + 10 + 48 * 32 + 9 * 64


@pytest.mark.parametrize(
    "plan, message",
    [
        ({"bias_layers": ["no_such_layer"]}, r"no layer 'no_such_layer' in model 'ref'"),
        ({"bias_layers": ["pool"]}, r"layer 'pool' has no bias"),
        ({"weight_layers": {"b3_add": 1}}, r"layer 'b3_add' has no weights"),
    ],
)
def test_plan_naming_layers_the_model_lacks(fresh_model, tmp_path, plan, message):
    with pytest.raises(FinetuneError, match=r"plan.json: " + message):
        select_parameters(fresh_model, parse_update(write_plan(tmp_path, plan)))


def test_last_n_larger_than_the_model(fresh_model):
    with pytest.raises(FinetuneError, match=r"--update last:99: model 'ref' has only \d+ layers with weights"):
        select_parameters(fresh_model, parse_update("last:99"))


# ---------------------------------------------------------------- training


@pytest.fixture(scope="module")
def tiny_mnist():
    from mcutrain_datasets import load_dataset

    data = load_dataset("mnist5k", limit=96, test_limit=64)
    return data.x_train, data.y_train, data.x_test, data.y_test


@pytest.mark.slow
def test_finetune_changes_only_the_selected_parameters(fresh_model, tmp_path, tiny_mnist):
    update = parse_update(write_plan(tmp_path, {"bias_layers": ["b6_project"], "weight_layers": {"last_conv": 0.5, "logits": 1}}))
    before = {v.path: v.numpy().copy() for v in fresh_model.weights}
    finetune(fresh_model, *tiny_mnist, update, epochs=1, batch_size=32)
    changed = {v.path for v in fresh_model.weights if not np.array_equal(before[v.path], v.numpy())}
    assert changed == {"b6_project/bias", "last_conv/kernel", "logits/kernel"}
    kernel = fresh_model.get_layer("last_conv").kernel.numpy()
    old = before["last_conv/kernel"]
    assert not np.array_equal(kernel[..., :64], old[..., :64]) and np.array_equal(kernel[..., 64:], old[..., 64:])


@pytest.mark.slow
def test_finetune_is_reproducible(tiny_mnist):
    results = []
    for _ in range(2):
        model = with_fresh_head(load_reference_model("ref").keras_model(), 10, seed=0)
        finetune(model, *tiny_mnist, parse_update("last:2"), epochs=1)
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
