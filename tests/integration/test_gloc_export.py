"""SketchGloc TF Serving export: the in-graph batch equals the numpy pipeline's, the SavedModel
loads and runs without the project (Python and `saved_model_cli`), bad requests fail clearly."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from helpers.serving_cli import clean_env, printed_output, saved_model_cli
from sketch_common import serving
from sketch_common.safe_pickle import load_npz
from flags import gloc_export
from sketchgloc_tf2 import SketchGloc, export
from sketchgloc_tf2 import hparams as hparams_lib
from sketchgloc_tf2.checkpoint import load_checkpoint_dir, save_checkpoint_dir
from sketchgloc_tf2.data import quickdraw
from sketchgloc_tf2.data.batching import BatchSizes
from sketchgloc_tf2.data.graph_batching import encoder_batch
from sketchgloc_tf2.data.pipeline import SketchBatcher
from sketchgloc_tf2.errors import SketchConfigError
from sketchgloc_tf2.model import SketchGlocModel
from sketchgloc_tf2.sampling import Sampler
from sketchgloc_tf2.strokes import absolute_to_offsets

ENCODER_KEYS = ("input_strokes", "input_stroke_len", "input_strokes_num", "input_box")
SCALE = 24.729520797729492
TINY = dict(enc_rnn_size=4, dec_rnn_size=8, z_size=3, enc_model="lstm", dec_model="lstm",
            use_recurrent_dropout=False, num_mixture_components=3, seed=0, max_seq_len=20,
            max_stroke_len=4, max_strokes_num=5, normalizing_scale_factor=SCALE,
            categories=["face", "house"])


def raw_sketches(data_dir, categories, count):
    """The first `count` test sketches of each category, as stored (int16 [n, 3])."""
    sketches = []
    for category in categories:
        data = load_npz(quickdraw.category_path(str(data_dir), category))
        sketches.extend(data["test"][:count])
    return sketches


def synthetic_sketches(seed=0, count=24):
    """Random sketches with the cases the batch code branches on: single-point first / last
    strokes, strokes longer than a node, many strokes, no final pen lift, offsets beyond ±1000,
    one and zero points."""
    rng = np.random.default_rng(seed)
    sketches = [np.zeros((0, 3), np.float32), np.array([[3, -4, 1]], np.float32)]
    for _ in range(count):
        rows = int(rng.integers(2, 40))
        sketch = np.zeros((rows, 3), np.float32)
        sketch[:, :2] = rng.normal(0, 40, (rows, 2)).round()
        sketch[:, 2] = rng.random(rows) < rng.uniform(0.05, 0.7)
        sketch[-1, 2] = rng.random() < 0.8
        if rng.random() < 0.2:
            sketch[0, :2] = 2500
        sketches.append(sketch)
    return sketches


def padded(sketches, extra_rows=2, fill=5.0):
    """`[B, P, 3]` float32 with garbage (`fill`, pen 1) past each length, and int32 lengths."""
    lengths = np.array([len(sketch) for sketch in sketches], np.int32)
    batch = np.full((len(sketches), lengths.max() + extra_rows, 3), fill, np.float32)
    batch[..., 2] = 1
    for row, sketch in enumerate(sketches):
        batch[row, :len(sketch)] = sketch
    return batch, lengths


def pipeline_batch(sketches, sizes, scale):
    """The numpy pipeline's clean batch: load-time clipping, normalisation, `SketchBatcher`."""
    split = quickdraw.normalize(quickdraw.SketchSplit(
        [np.clip(s, -quickdraw.CLIP_LIMIT, quickdraw.CLIP_LIMIT).astype(np.float32)
         for s in sketches], np.zeros(len(sketches), np.int32), [("raw", i) for i in
                                                                  range(len(sketches))]), scale)
    hparams = hparams_lib.HParams(
        max_seq_len=max(1, max(len(s) for s in sketches)), max_stroke_len=sizes.max_stroke_len,
        max_strokes_num=sizes.max_strokes_num, clip_node_length=sizes.clip_node_length,
        normalizing_scale_factor=scale)
    batcher = SketchBatcher(split, hparams, augment=False)
    return batcher.batch(np.arange(len(sketches)), 0.0, np.random.RandomState(0))


def assert_graph_batch_equals_pipeline(sketches, sizes, scale):
    strokes, lengths = padded(sketches)
    graph = tf.function(lambda s, n: encoder_batch(s, n, scale, sizes))(strokes, lengths)
    expected = pipeline_batch(sketches, sizes, scale)
    for key in ENCODER_KEYS:
        np.testing.assert_array_equal(graph[key].numpy(), expected[key], err_msg=key)


SIZES = [BatchSizes(0, 4, 5, True), BatchSizes(0, 2, 9, False), BatchSizes(0, 57, 12, True)]


@pytest.mark.parametrize("sizes", SIZES)
def test_graph_batch_equals_pipeline_on_synthetic_sketches(sizes):
    assert_graph_batch_equals_pipeline(synthetic_sketches(), sizes, 17.3)


@pytest.mark.parametrize("sizes", SIZES)
def test_graph_batch_equals_pipeline_on_real_sketches(gloc_bundle, sizes):
    sketches = raw_sketches(gloc_bundle / "data", ["face", "house"], 10)
    assert_graph_batch_equals_pipeline(sketches, sizes, SCALE)


@pytest.mark.realdata
def test_graph_batch_equals_pipeline_on_shared_drawings(quickdraw_dir):
    sketches = raw_sketches(quickdraw_dir, ["The Eiffel Tower", "ant"], 20)
    sizes = BatchSizes(0, *quickdraw.compute_sizes(sketches)[1:], True)
    assert_graph_batch_equals_pipeline(sketches, sizes, 30.0)


def test_version_folders(tmp_path):
    for name in ("1", "3", "notes", ".tmp-9-x"):
        (tmp_path / name).mkdir()
    assert serving.next_version(str(tmp_path)) == 4
    assert serving.next_version(str(tmp_path / "missing")) == 1
    with pytest.raises(SketchConfigError, match="already exists"):
        export.write_version(str(tmp_path), 3, lambda folder: None)

    def failing(folder):
        open(os.path.join(folder, "half"), "w").close()
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        export.write_version(str(tmp_path), None, failing)
    assert sorted(os.listdir(tmp_path)) == [".tmp-9-x", "1", "3", "notes"]
    written = export.write_version(str(tmp_path), None, lambda folder: None)
    assert written == str(tmp_path / "4") and oct(os.stat(written).st_mode)[-3:] != "700"


def test_missing_scale_factor_is_reported():
    hparams = hparams_lib.HParams(**dict(TINY, normalizing_scale_factor=-1.0))
    with pytest.raises(SketchConfigError, match="normalizing_scale_factor"):
        export.ServingGraph(SketchGlocModel.from_hparams(hparams), hparams)


# ----------------------------------------------------------------------------------------------
# One export, used by the checks below.

CLIENT = textwrap.dedent("""
    import importlib.abc, json, sys
    class NoProject(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("sketchgloc_tf2", "bert_tf2"):
                raise ImportError("the client must not import " + name)
    sys.meta_path.insert(0, NoProject())
    import numpy as np
    import tensorflow as tf
    model = tf.saved_model.load(sys.argv[1])
    data = dict(np.load(sys.argv[2]))
    requests = json.loads(open(sys.argv[3]).read())
    results, errors = {}, {}
    for name, (signature, inputs) in requests.items():
        inputs = {key: tf.constant(data[value]) if isinstance(value, str) else
                  tf.constant(value[0], dtype=value[1]) for key, value in inputs.items()}
        try:
            outputs = model.signatures[signature](**inputs)
        except tf.errors.InvalidArgumentError as error:
            errors[name] = error.message
            continue
        results.update({name + "/" + key: value.numpy() for key, value in outputs.items()})
    np.savez(sys.argv[4], **results)
    json.dump({"errors": errors, "signatures": sorted(model.signatures)},
              open(sys.argv[5], "w"))
""")


def padded_stroke3(result, index, steps, scale):
    """Sampler output `index` as the signature's `[T, 3]` rows (offsets in original units)."""
    rows = np.zeros((steps, 3))
    offsets = absolute_to_offsets(result.stroke3(index))
    rows[:len(offsets)] = offsets * [scale, scale, 1]
    return rows


@pytest.fixture(scope="module")
def served(gloc_bundle, tmp_path_factory):
    """Exports a tiny model, runs the client and `saved_model_cli` (in parallel) and computes
    the expected outputs in process."""
    work = tmp_path_factory.mktemp("gloc_export")
    hparams = hparams_lib.HParams(**TINY)
    tf.keras.utils.set_random_seed(0)
    save_checkpoint_dir(SketchGlocModel.from_hparams(hparams), hparams, str(work / "ckpt"))
    assert gloc_export.main([str(work / "ckpt"), str(work / "base"), "--encode_block", "3"]) == 0
    path = str(work / "base" / "1")

    sketches = raw_sketches(gloc_bundle / "data", ["face", "house"], 3) + synthetic_sketches(
        seed=1, count=2)
    strokes, lengths = padded(sketches)
    z = np.random.default_rng(2).normal(size=(4, 3)).astype(np.float32)
    np.savez(work / "inputs.npz", strokes=strokes, lengths=lengths, z=z, rank2=strokes[0],
             long=lengths + 3, nan=np.where(strokes == 0, np.nan, strokes),
             wide_z=np.zeros((2, 4), np.float32), partial_strokes=strokes[:6],
             partial=np.minimum(lengths[:6], 4), empty=np.zeros_like(lengths[:6]))
    sketch_inputs = {"strokes": "strokes", "lengths": "lengths"}
    greedy = {"temperature": [0.0, "float32"], "seed": [0, "int64"]}
    requests = {
        "encode": ["serving_default", sketch_inputs],
        "greedy": ["sample", {"z": "z", **greedy}],
        "sampled": ["sample", {"z": "z", "temperature": [0.8, "float32"],
                               "seed": [11, "int64"]}],
        "reconstruct": ["reconstruct", {**sketch_inputs, **greedy}],
        "complete": ["complete", {"strokes": "partial_strokes", "lengths": "partial", **greedy}],
        "bad_partial": ["complete", {"strokes": "partial_strokes", "lengths": "empty",
                                     **greedy}],
        "bad_rank": ["serving_default", {"strokes": "rank2", "lengths": "lengths"}],
        "bad_length": ["serving_default", {"strokes": "strokes", "lengths": "long"}],
        "bad_nan": ["serving_default", {"strokes": "nan", "lengths": "lengths"}],
        "bad_z": ["sample", {"z": "wide_z", **greedy}],
        "bad_temperature": ["sample", {"z": "z", "temperature": [-1.0, "float32"],
                                       "seed": [0, "int64"]}],
    }
    (work / "requests.json").write_text(json.dumps(requests))
    (work / "client.py").write_text(CLIENT)
    cli_strokes = "strokes=" + json.dumps(strokes[:2].tolist())
    cli_inputs = f"{cli_strokes};lengths={json.dumps(lengths[:2].tolist())}"
    processes = {
        "client": subprocess.Popen(
            [sys.executable, "client.py", path, "inputs.npz", "requests.json", "results.npz",
             "results.json"], cwd=work, env=clean_env(), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True),
        "show": saved_model_cli("show", "--dir", path, "--all", cwd=work),
        "run": saved_model_cli("run", "--dir", path, "--tag_set", "serve", "--signature_def",
                               "serving_default", "--input_exprs", cli_inputs, cwd=work),
        "run_bad": saved_model_cli("run", "--dir", path, "--tag_set", "serve",
                                   "--signature_def", "serving_default", "--input_exprs",
                                   f"{cli_strokes};lengths=[1,1000]", cwd=work),
    }

    model, model_hparams = load_checkpoint_dir(str(work / "ckpt"))
    sizes = BatchSizes(0, TINY["max_stroke_len"], TINY["max_strokes_num"], True)
    encoded = model.encode(pipeline_batch(sketches, sizes, SCALE), training=False)
    steps = TINY["max_seq_len"]
    expected = {"encode/mu": encoded["p_mu"].numpy(),
                "encode/logvar": encoded["p_sigma2"].numpy()}
    greedy_sampler = Sampler(model, steps, greedy=True, jit_compile=False)
    runs = {"greedy": greedy_sampler(z),
            "sampled": Sampler(model, steps, 0.8, jit_compile=False)(z, seed=11),
            "reconstruct": greedy_sampler(expected["encode/mu"])}
    completed = SketchGloc(model, model_hparams).complete(
        [sketch[:4] for sketch in sketches[:6]], temperature=0.0)
    expected["complete/continuations"] = [sketch[min(len(source), 4):]
                                          for sketch, source in zip(completed, sketches[:6])]
    for name, result in runs.items():
        expected[name + "/lengths"] = result.lengths
        expected[name + "/strokes"] = np.stack(
            [padded_stroke3(result, i, steps, SCALE) for i in range(len(result.lengths))])

    outputs = {name: process.communicate(timeout=300) for name, process in processes.items()}
    codes = {name: process.returncode for name, process in processes.items()}
    assert codes["client"] == 0, outputs["client"][1][-3000:]
    return {"path": path, "expected": expected, "outputs": outputs, "codes": codes,
            "results": dict(np.load(work / "results.npz")),
            "report": json.loads((work / "results.json").read_text()),
            "cli_expected": expected["encode/mu"][:2]}


@pytest.mark.slow
def test_export_layout(served):
    path = served["path"]
    assert sorted(os.listdir(os.path.dirname(path))) == ["1"]
    info = json.loads(open(os.path.join(path, export.INFO_FILE)).read())
    assert info["z_size"] == 3 and info["normalizing_scale_factor"] == pytest.approx(SCALE)
    assert served["report"]["signatures"] == ["complete", "reconstruct", "sample",
                                              "serving_default"]


@pytest.mark.slow
def test_client_outputs_match_the_project(served):
    results, expected = served["results"], served["expected"]
    for key in ("encode/mu", "encode/logvar"):
        np.testing.assert_allclose(results[key], expected[key], atol=1e-5, err_msg=key)
    for name in ("greedy", "sampled", "reconstruct"):
        np.testing.assert_array_equal(results[name + "/lengths"], expected[name + "/lengths"])
        np.testing.assert_allclose(results[name + "/strokes"], expected[name + "/strokes"],
                                   atol=1e-3, err_msg=name)
    assert len(set(results["sampled/lengths"].tolist())) > 1
    for index, continuation in enumerate(expected["complete/continuations"]):
        length = results["complete/lengths"][index]
        assert length == len(continuation)
        np.testing.assert_allclose(results["complete/strokes"][index, :length], continuation,
                                   atol=1e-3)


@pytest.mark.slow
def test_bad_requests_are_named(served):
    errors = served["report"]["errors"]
    assert sorted(errors) == ["bad_length", "bad_nan", "bad_partial", "bad_rank",
                              "bad_temperature", "bad_z"]
    assert "lengths must be >= 1 to complete a sketch" in errors["bad_partial"]
    assert "strokes must be a rank-3 [B, P, 3]" in errors["bad_rank"]
    assert "lengths must not exceed P" in errors["bad_length"]
    assert "NaN or infinite" in errors["bad_nan"]
    assert "z must have 3 columns" in errors["bad_z"]
    assert "temperature must be >= 0" in errors["bad_temperature"]


@pytest.mark.slow
def test_saved_model_cli_show_and_run(served):
    stdout, stderr = served["outputs"]["show"]
    assert served["codes"]["show"] == 0, stderr[-2000:]
    for text in ("signature_def['serving_default']", "signature_def['sample']",
                 "signature_def['reconstruct']", "inputs['strokes']", "inputs['lengths']",
                 "inputs['temperature']", "outputs['mu']", "outputs['logvar']"):
        assert text in stdout
    stdout, stderr = served["outputs"]["run"]
    assert served["codes"]["run"] == 0, stderr[-2000:]
    mu = printed_output(stdout, "mu")
    np.testing.assert_allclose(mu.reshape(2, 3), served["cli_expected"], atol=1e-5)
    stdout, stderr = served["outputs"]["run_bad"]
    assert served["codes"]["run_bad"] != 0
    assert "lengths must not exceed P" in stderr
