"""`mcutrain compile` / `mcutrain quantize`: what they write, and how they refuse bad input."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from host_tools import project
from quantize import blob as fmt
from quantize.compile import compile_tflite
from quantize.convert import convert_keras_to_int8
from quantize.errors import ModelImportError, UnsupportedModelError
from quantize.importer import check_int8_tflite
from quantize.lower import lower_tflite
from quantize.memory_plan import find_overlaps
from quantize.models import load_reference_model
from quantize.tflite_model import parse_tflite


def _mcutrain(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "host_tools.cli", *args], capture_output=True, text=True, cwd=project.ROOT)


@pytest.fixture(scope="module")
def exp_model() -> bytes:
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential([
        tf.keras.Input((6, 6, 2)),
        tf.keras.layers.Conv2D(3, 3, activation="relu"),
        tf.keras.layers.Activation("exponential"),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(2),
    ])
    return convert_keras_to_int8(model, np.random.default_rng(0).random((16, 6, 6, 2), dtype=np.float32))


def test_ref_compiles_with_a_valid_memory_plan(tmp_path):
    ref = load_reference_model("ref")
    compiled = compile_tflite(ref.tflite_bytes(), "ref", tmp_path / "out")
    header = fmt.read_header(compiled.blob_path.read_bytes())
    assert header["name"] == "ref" and header["num_ops"] == len(compiled.lowered.op_names)
    assert find_overlaps(compiled.lowered.plan) == []
    assert header["arena_size"] == compiled.lowered.plan.arena_size
    # The blob's MACs agree with the model's manifest (computed independently from layer shapes).
    assert sum(compiled.lowered.macs) == ref.manifest["macs"]
    source = (tmp_path / "out" / "model_blob.cpp").read_text()
    assert "mcutrain_model_blob[" in source and f"mcutrain_model_arena[{header['arena_size']}]" in source


def test_trainable_region_is_the_classifier_head():
    import tensorflow as tf

    tflite = load_reference_model("ref").tflite_bytes()
    blob = lower_tflite(tflite, "ref").blob
    header = fmt.read_header(blob)
    start = header["data_offset"] + header["trainable_offset"]
    region = blob[start:start + header["trainable_size"]]
    interpreter = tf.lite.Interpreter(model_content=tflite)
    head = [d for d in interpreter.get_tensor_details()
            if d["dtype"] == np.int8 and len(d["shape"]) == 2 and d["shape"][0] > 1]  # not [1, N] activations
    assert len(head) == 1, "ref has one dense layer"
    units, depth = head[0]["shape"]
    weights = interpreter.get_tensor(head[0]["index"])
    # int8 weights [units, depth], then the int32 bias (4-aligned; 10 x 128 needs no padding)
    assert header["trainable_size"] == units * depth + 4 * units
    assert region[:units * depth] == weights.tobytes()


def test_unsupported_op_names_the_op_its_index_and_what_is_supported(exp_model):
    with pytest.raises(UnsupportedModelError) as err:
        lower_tflite(exp_model, "exp")
    message = str(err.value)
    assert "operator 1 is EXP" in message
    assert "supported: CONV_2D, DEPTHWISE_CONV_2D" in message


def test_compile_writes_nothing_on_error(exp_model, tmp_path):
    source = tmp_path / "exp.tflite"
    source.write_bytes(exp_model)
    out = tmp_path / "out"
    proc = _mcutrain("compile", str(source), "-o", str(out))
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and "operator 1 is EXP" in proc.stderr
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["exp.tflite"]  # no staging folder left behind


@pytest.fixture(scope="module")
def dynamic_batch_model() -> bytes:
    """Conv -> Flatten -> Dense converted by TFLite's plain recipe: its batch is dynamic, so the
    converter writes SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE for the Flatten."""
    import keras

    from quantize.convert import convert_plain_recipe

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6, 6, 2)), keras.layers.Conv2D(4, 3, activation="relu"),
                              keras.layers.Flatten(), keras.layers.Dense(5)])
    return convert_plain_recipe(model, np.random.default_rng(0).random((16, 6, 6, 2), dtype=np.float32))


def _tflite_ops(tflite: bytes) -> list[str]:
    import tflite_micro.tensorflow.lite.micro.python.schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(tflite, 0)
    names = {code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
    return [names[max(model.operatorCodes[op.opcodeIndex].builtinCode,
                      model.operatorCodes[op.opcodeIndex].deprecatedBuiltinCode)] for op in model.subgraphs[0].operators]


def test_a_dynamic_batch_shape_chain_is_folded_to_one_reshape(dynamic_batch_model):
    assert _tflite_ops(dynamic_batch_model) == ["CONV_2D", "SHAPE", "STRIDED_SLICE", "PACK", "RESHAPE",
                                                "FULLY_CONNECTED"]
    graph = parse_tflite(dynamic_batch_model)
    assert [(op.index, op.op) for op in graph.operators] == [(0, "CONV_2D"), (1, "RESHAPE"), (2, "FULLY_CONNECTED")]
    # the forward pass (the golden kernels, which tests/test_forward_fidelity.py checks against TFLM
    # on the zoo's dynamic-batch models) runs on the folded graph
    assert lower_tflite(dynamic_batch_model, "dynamic").op_names == ["CONV_2D", "RESHAPE", "FULLY_CONNECTED"]


def test_a_shape_op_that_cannot_be_folded_says_to_fix_the_batch(dynamic_batch_model):
    import flatbuffers
    import tflite_micro.tensorflow.lite.micro.python.schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(dynamic_batch_model, 0)
    subgraph = model.subgraphs[0]
    reshape = subgraph.operators[4]
    subgraph.tensors[reshape.outputs[0]].shape = np.array([-1, 64], dtype=np.int32)  # its result unknown at batch 1
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    with pytest.raises(UnsupportedModelError) as err:
        parse_tflite(bytes(builder.Output()))
    message = str(err.value)
    assert message.startswith("operator 1 is SHAPE, which mcutrain does not implement; it computes a shape at run "
                              "time (a dynamic batch): fix the batch at 1")
    assert "or convert with mcutrain quantize (supported: CONV_2D" in message


def test_float_tflite_is_refused(tmp_path):
    import tensorflow as tf

    model = tf.keras.Sequential([tf.keras.Input((4,)), tf.keras.layers.Dense(2)])
    float_tflite = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    with pytest.raises(ModelImportError, match="input tensor .* is not int8"):
        check_int8_tflite(float_tflite, "float.tflite")


def test_int8_model_with_float_edges_compiles(tmp_path):
    # The converter's default keeps a float input and output around an int8 graph, with QUANTIZE
    # and DEQUANTIZE at the edges: the device runs the int8 part, the host quantizes the input.
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential([tf.keras.Input((6, 6, 1)), tf.keras.layers.Conv2D(3, 3),
                                 tf.keras.layers.GlobalAveragePooling2D(), tf.keras.layers.Dense(4)])
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    rng = np.random.default_rng(0)
    converter.representative_dataset = lambda: ([rng.random((1, 6, 6, 1), dtype=np.float32)] for _ in range(8))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    tflite = converter.convert()
    graph = check_int8_tflite(tflite, "edges.tflite")
    assert graph.tensor(graph.inputs[0]).dtype == "float32" and graph.tensor(graph.int8_input).dtype == "int8"
    compiled = compile_tflite(tflite, "edges", tmp_path / "out")
    assert compiled.blob_path.is_file() and "QUANTIZE" not in compiled.lowered.op_names


def test_garbage_file_is_refused_naming_it(tmp_path):
    bad = tmp_path / "junk.tflite"
    bad.write_bytes(b"\x00not a flatbuffer" * 3)
    proc = _mcutrain("compile", str(bad), "-o", str(tmp_path / "out"))
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "junk.tflite" in proc.stderr


def test_quantize_keras_model_end_to_end(tmp_path):
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential([
        tf.keras.Input((8, 8, 1)), tf.keras.layers.Conv2D(4, 3, activation="relu6"),
        tf.keras.layers.GlobalAveragePooling2D(), tf.keras.layers.Dense(10),
    ])
    keras_path = tmp_path / "m.keras"
    model.save(keras_path)
    out = tmp_path / "m.tflite"
    proc = _mcutrain("quantize", str(keras_path), "--calib", "digits", "--samples", "20", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    check_int8_tflite(out.read_bytes(), str(out))
    assert not out.with_name("m.tflite.partial").exists()


def test_quantize_float_model_without_calibration_is_refused(tmp_path):
    import tensorflow as tf

    keras_path = tmp_path / "m.keras"
    tf.keras.Sequential([tf.keras.Input((8, 8, 1)), tf.keras.layers.Flatten(), tf.keras.layers.Dense(2)]).save(keras_path)
    proc = _mcutrain("quantize", str(keras_path), "-o", str(tmp_path / "m.tflite"))
    assert proc.returncode == 1 and "needs calibration data" in proc.stderr
    assert not (tmp_path / "m.tflite").exists()


def test_plan_is_a_path_or_the_name_of_a_plan_beside_the_model(tmp_path):
    # ref's demo plan: the head (10 x 128 + 10), last_conv (128 x 48 + 128) and b6_project (48 x 128 + 48).
    proc = _mcutrain("compile", "ref", "-o", str(tmp_path / "demo"), "--plan", "demo")
    assert proc.returncode == 0, proc.stderr
    header = fmt.read_header((tmp_path / "demo" / "model.blob").read_bytes())
    assert header["trainable_size"] == (1280 + 4 * 10) + (6144 + 4 * 128) + (6144 + 4 * 48)
    assert f"trainable {header['trainable_size']} bytes" in proc.stdout
    proc = _mcutrain("compile", "ref", "-o", str(tmp_path / "typo"), "--plan", "dmeo")
    assert proc.returncode == 1 and not (tmp_path / "typo").exists()
    assert proc.stderr.strip().splitlines() == ["mcutrain: error: training plan 'dmeo': no such file, and model ref "
                                                "has no plan of that name (its plans: demo, demo-gf2, demo-gf4, head)"]


def test_a_stateful_model_names_its_variable_ops_and_says_streaming_is_not_supported():
    import tensorflow as tf

    class Streaming(tf.Module):  # a streaming model's shape: state kept in a resource variable
        def __init__(self):
            self.state = tf.Variable(tf.zeros((1, 4)))

        @tf.function(input_signature=[tf.TensorSpec((1, 4), tf.float32)])
        def __call__(self, x):
            self.state.assign(self.state * 0.5 + x)
            return self.state * 2.0

    module = Streaming()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([module.__call__.get_concrete_function()], module)
    converter.experimental_enable_resource_variables = True
    with pytest.raises(UnsupportedModelError) as err:
        parse_tflite(converter.convert())
    message = str(err.value)
    assert message.startswith("the model has 2 subgraphs and control-flow or variable ops: CALL_ONCE (subgraph 0, "
                              "operator 0), VAR_HANDLE")
    assert "stateful or streaming models (resource variables, control flow) are not supported" in message
