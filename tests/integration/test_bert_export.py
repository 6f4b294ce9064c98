"""Sketch-BERT TF Serving export: in-graph preprocessing equals the dataset transform, the
SavedModel loads and runs without the project (Python and `saved_model_cli`), bad requests fail
clearly."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

import bert_tf2
from bert_tf2 import export
from bert_tf2.checkpoint import load_checkpoint, save_checkpoint
from bert_tf2.config import load_config
from bert_tf2.data import masking, transform
from bert_tf2.errors import BertConfigError
from bert_tf2.model import build_model
from flags import bert_export
from helpers.serving_cli import clean_env, printed_output, saved_model_cli
from sketch_common.safe_pickle import load_npz

BASE_CONFIG = os.path.join(os.path.dirname(bert_tf2.__file__), "configs",
                           "quickdraw_small_cls.yml")
ALL_TASKS = ["maskrec", "sketchclsinput", "sketchretrieval"]


def tiny_config(**changes):
    values = dict(task_types=ALL_TASKS, layers_setting=[[2, 16, 24], [2, 16, 24]],
                  embed_layers_setting=[8, 12], max_length=24, rec_layers_setting=[],
                  cls_layers_setting=[6], rel_layers_setting=[], cls_dim=3, rel_feat_dim=4,
                  segment_type="learn")
    values.update(changes)
    return load_config(BASE_CONFIG, values)


def real_sketches(gloc_bundle, count=8):
    sketches = []
    for category in ("face", "house"):
        data = load_npz(gloc_bundle / "data" / f"{category}.npz")
        sketches.extend(data["test"][:count])
    return sketches


def synthetic_sketches(seed=0):
    """Empty, one-point, short, exactly-fitting and truncated sketches, no final lift,
    offsets beyond the clipping limit, a zero-extent sketch."""
    rng = np.random.default_rng(seed)
    sketches = [np.zeros((0, 3), np.float32), np.array([[0, 0, 1]], np.float32)]
    for rows in (3, 11, 22, 23, 24, 40):
        sketch = np.zeros((rows, 3), np.float32)
        sketch[:, :2] = rng.normal(0, 50, (rows, 2)).round()
        sketch[:, 2] = rng.random(rows) < 0.3
        if rows > 5:
            sketch[2, 0] = 5000
        sketches.append(sketch)
    return sketches


def padded(sketches, extra_rows=2, fill=7.0):
    """`[B, P, 3]` float32 with garbage past each length, and int32 lengths."""
    lengths = np.array([len(sketch) for sketch in sketches], np.int32)
    batch = np.full((len(sketches), lengths.max() + extra_rows, 3), fill, np.float32)
    for row, sketch in enumerate(sketches):
        batch[row, :len(sketch)] = sketch
    return batch, lengths


def dataset_inputs(sketches, config):
    """The pipeline's example fields with an all-ones mask (transform + special tokens)."""
    has_class = "sketchclsinput" in config["task_types"]
    has_retrieval = "sketchretrieval" in config["task_types"]
    fields = {"mask_input": [], "segment": [], "length_mask": []}
    for sketch in sketches:
        stroke, segment, length_mask = transform.transform_stroke(
            sketch, config["max_length"], config["stroke_type"], config["normalization_type"],
            config["max_scale_factor"], config["limit"])
        mask_input, segment, length_mask = masking.add_special_tokens(
            stroke, segment, length_mask, has_class, has_retrieval)
        fields["mask_input"].append(mask_input.astype(np.float32))
        fields["segment"].append(segment.astype(np.int32))
        fields["length_mask"].append(length_mask)
    return {key: np.stack(value) for key, value in fields.items()}


@pytest.mark.parametrize("stroke_type", ["stroke-5", "stroke-3"])
@pytest.mark.parametrize("normalization_type", transform.NORMALIZATION_TYPES)
def test_model_inputs_equal_the_dataset_transform(gloc_bundle, stroke_type, normalization_type):
    for tasks, sketches in ((ALL_TASKS, real_sketches(gloc_bundle)),
                            (["maskrec"], synthetic_sketches())):
        config = tiny_config(stroke_type=stroke_type, normalization_type=normalization_type,
                             task_types=tasks)
        strokes, lengths = padded(sketches)
        graph = tf.function(lambda s, n: export.model_inputs(s, n, config))(strokes, lengths)
        expected = dataset_inputs(sketches, config)
        for key, value in expected.items():
            np.testing.assert_allclose(graph[key].numpy(), value, rtol=1e-6, atol=1e-6,
                                       err_msg=key)


def test_discrete_strokes_are_refused():
    with pytest.raises(BertConfigError, match="stroke-discrete"):
        export.model_inputs(tf.zeros([1, 2, 3]), tf.constant([2]),
                            tiny_config(stroke_type="stroke-discrete"))


CLIENT = textwrap.dedent("""
    import importlib.abc, json, sys
    class NoProject(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("sketchgloc_tf2", "bert_tf2"):
                raise ImportError("the client must not import " + name)
    sys.meta_path.insert(0, NoProject())
    import numpy as np
    import tensorflow as tf
    data = dict(np.load(sys.argv[1]))
    requests = json.loads(open(sys.argv[2]).read())
    models, results, errors = {}, {}, {}
    for name, (path, signature, inputs) in requests.items():
        model = models.setdefault(path, tf.saved_model.load(path))
        try:
            outputs = model.signatures[signature](
                **{key: tf.constant(data[value]) for key, value in inputs.items()})
        except tf.errors.InvalidArgumentError as error:
            errors[name] = error.message
            continue
        results.update({name + "/" + key: value.numpy().astype(str) if value.dtype == tf.string
                        else value.numpy() for key, value in outputs.items()})
    np.savez(sys.argv[3], **results)
    signatures = {path: sorted(model.signatures) for path, model in models.items()}
    json.dump({"errors": errors, "signatures": signatures}, open(sys.argv[4], "w"))
""")


def export_tiny(work, name, config):
    tf.keras.utils.set_random_seed(1)
    save_checkpoint(str(work / name), build_model(config), config)
    assert bert_export.main([str(work / name), str(work / f"{name}_base")]) == 0
    return str(work / f"{name}_base" / "1")


@pytest.fixture(scope="module")
def served(gloc_bundle, tmp_path_factory):
    """Exports a model with every head and a pre-training model, runs the client and
    `saved_model_cli` (in parallel) and computes the expected outputs in process."""
    work = tmp_path_factory.mktemp("bert_export")
    paths = {"full": export_tiny(work, "full", tiny_config()),
             "pretrain": export_tiny(work, "pretrain", tiny_config(task_types=["maskrec"],
                                                                   segment_type="none"))}
    sketches = real_sketches(gloc_bundle, 3) + synthetic_sketches()
    strokes, lengths = padded(sketches)
    bad_pen = strokes.copy()
    bad_pen[0, 0, 2] = 2
    np.savez(work / "inputs.npz", strokes=strokes, lengths=lengths, rank2=strokes[0],
             long=lengths + 3, nan=np.where(strokes == 0, np.nan, strokes), bad_pen=bad_pen)
    sketch = {"strokes": "strokes", "lengths": "lengths"}
    requests = {
        "embed": [paths["full"], "serving_default", sketch],
        "classify": [paths["full"], "classify", sketch],
        "retrieval": [paths["full"], "retrieval_embed", sketch],
        "pretrain_embed": [paths["pretrain"], "serving_default", sketch],
        "bad_rank": [paths["full"], "classify", {"strokes": "rank2", "lengths": "lengths"}],
        "bad_length": [paths["full"], "serving_default", {"strokes": "strokes",
                                                          "lengths": "long"}],
        "bad_nan": [paths["full"], "retrieval_embed", {"strokes": "nan", "lengths": "lengths"}],
        "bad_pen": [paths["full"], "serving_default", {"strokes": "bad_pen",
                                                       "lengths": "lengths"}],
    }
    (work / "requests.json").write_text(json.dumps(requests))
    (work / "client.py").write_text(CLIENT)
    cli_inputs = (f"strokes={json.dumps(strokes[:2].tolist())};"
                  f"lengths={json.dumps(lengths[:2].tolist())}")
    processes = {
        "client": subprocess.Popen(
            [sys.executable, "client.py", "inputs.npz", "requests.json", "results.npz",
             "results.json"], cwd=work, env=clean_env(), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True),
        "show": saved_model_cli("show", "--dir", paths["full"], "--all", cwd=work),
        "run": saved_model_cli("run", "--dir", paths["full"], "--tag_set", "serve",
                               "--signature_def", "classify", "--input_exprs", cli_inputs,
                               cwd=work),
    }

    expected = {}
    for name in ("full", "pretrain"):
        config, model = load_checkpoint(str(work / name))
        inputs = dataset_inputs(sketches, config)
        hidden = model.encoder(inputs["mask_input"], inputs["length_mask"],
                               segments=inputs["segment"], training=False).numpy()
        if name == "pretrain":
            weight = inputs["length_mask"][..., None]
            expected["pretrain_embed/embedding"] = (hidden * weight).sum(1) / weight.sum(1)
            continue
        heads = model(inputs, training=False)
        logits = heads["sketchclsinput"].numpy()
        probabilities = tf.nn.softmax(logits).numpy()
        order = np.argsort(-probabilities, axis=1, kind="stable")
        padding = [[0, 0], [0, 2]]  # 3 classes, 5 top entries
        expected.update({
            "embed/embedding": hidden[:, 0], "classify/logits": logits,
            "classify/probabilities": probabilities,
            "classify/top_probabilities": np.pad(np.take_along_axis(probabilities, order, 1),
                                                 padding),
            "classify/top_classes": np.pad(np.array(["class_0", "class_1", "class_2"])[order],
                                           padding, constant_values=""),
            "retrieval/features": heads["sketchretrieval"].numpy()})

    outputs = {name: process.communicate(timeout=300) for name, process in processes.items()}
    codes = {name: process.returncode for name, process in processes.items()}
    assert codes["client"] == 0, outputs["client"][1][-3000:]
    return {"paths": paths, "expected": expected, "outputs": outputs, "codes": codes,
            "results": dict(np.load(work / "results.npz")),
            "report": json.loads((work / "results.json").read_text())}


@pytest.mark.slow
def test_export_layout(served):
    signatures = served["report"]["signatures"]
    assert signatures[served["paths"]["full"]] == [
        "classify", "retrieval_embed", "serving_default"]
    assert signatures[served["paths"]["pretrain"]] == ["serving_default"]
    info = json.loads(open(os.path.join(served["paths"]["full"], export.INFO_FILE)).read())
    assert info["embedding"] == "retrieval_token" and info["max_length"] == 24
    info = json.loads(open(os.path.join(served["paths"]["pretrain"], export.INFO_FILE)).read())
    assert info["embedding"] == "mean_of_sketch_rows"


@pytest.mark.slow
def test_client_outputs_match_the_project(served):
    results = served["results"]
    for key, value in served["expected"].items():
        if value.dtype.kind == "U":
            np.testing.assert_array_equal(results[key], value, err_msg=key)
        else:
            np.testing.assert_allclose(results[key], value, atol=1e-5, err_msg=key)


@pytest.mark.slow
def test_bad_requests_are_named(served):
    errors = served["report"]["errors"]
    assert sorted(errors) == ["bad_length", "bad_nan", "bad_pen", "bad_rank"]
    assert "strokes must be a rank-3 [B, P, 3]" in errors["bad_rank"]
    assert "lengths must not exceed P" in errors["bad_length"]
    assert "NaN or infinite" in errors["bad_nan"]
    assert "pen_lift (column 2 of strokes) must be 0 or 1" in errors["bad_pen"]


@pytest.mark.slow
def test_saved_model_cli_show_and_run(served):
    stdout, stderr = served["outputs"]["show"]
    assert served["codes"]["show"] == 0, stderr[-2000:]
    for text in ("signature_def['serving_default']", "signature_def['classify']",
                 "signature_def['retrieval_embed']", "inputs['strokes']", "inputs['lengths']",
                 "outputs['embedding']", "outputs['probabilities']", "outputs['features']",
                 "outputs['top_classes']", "outputs['top_probabilities']"):
        assert text in stdout
    stdout, stderr = served["outputs"]["run"]
    assert served["codes"]["run"] == 0, stderr[-2000:]
    logits = printed_output(stdout, "logits")
    np.testing.assert_allclose(logits.reshape(2, 3), served["expected"]["classify/logits"][:2],
                               atol=1e-5)
