"""The browser demo's REST API (TF Serving predict format) on a loopback server with tiny
presets: every signature in both layouts, the tasks' numbers, bad requests (HTTP 400 with the
message, server stays up), 16 concurrent requests, the relay to a model server, the CLI."""

import concurrent.futures
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request

import numpy as np
import pytest

from bert_tf2 import SketchBert
from helpers.demo import CLASS_NAMES, GLOC_SIZES, Z_SIZE, running_server, sample_sketches
from helpers.paths import REPO_ROOT
from sketch_demo import server
from sketchgloc_tf2 import SketchGloc

SKETCHES = sample_sketches()
LENGTHS = [len(sketch) for sketch in SKETCHES]
WIDTH = max(LENGTHS) + 2
STROKES = [sketch.tolist() + [[0, 0, 0]] * (WIDTH - len(sketch)) for sketch in SKETCHES]
SKETCH_INPUTS = {"strokes": STROKES, "lengths": LENGTHS}
GREEDY = {"temperature": 0.0, "seed": 3}


def rows(strokes, length):
    """The first `length` rows of a `[T, 3]` JSON output, as a `[length, 3]` array."""
    return np.reshape(np.asarray(strokes[:length], np.float32), (-1, 3))


def call(url, path, body=None, raw=None):
    """`(status, decoded JSON)` of a GET (no body) or POST."""
    data = raw if raw is not None else None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def predict(url, model, signature, layout, inputs):
    return call(url, f"/v1/models/{model}:predict", {"signature_name": signature, layout: inputs})


@pytest.fixture(scope="module")
def url(demo_server):
    return demo_server["url"]


@pytest.fixture(scope="module")
def tasks(demo_presets):
    return {"gloc": SketchGloc.from_preset(demo_presets["gloc"]),
            "bert": SketchBert.from_preset(demo_presets["bert"])}


def test_sketchgloc_signatures_give_the_tasks_numbers(url, tasks):
    gloc = tasks["gloc"]
    status, body = predict(url, "sketchgloc", "serving_default", "inputs", SKETCH_INPUTS)
    assert status == 200
    mu, logvar = gloc.encode(SKETCHES)
    np.testing.assert_allclose(body["outputs"]["mu"], mu, atol=1e-5)
    np.testing.assert_allclose(body["outputs"]["logvar"], logvar, atol=1e-5)

    status, body = predict(url, "sketchgloc", "reconstruct", "inputs", {**SKETCH_INPUTS, **GREEDY})
    assert status == 200
    outputs = body["outputs"]
    assert np.shape(outputs["strokes"]) == (3, GLOC_SIZES["max_seq_len"], 3)
    for row, expected in enumerate(gloc.reconstruct(SKETCHES, temperature=0.0)):
        assert outputs["lengths"][row] == len(expected)
        np.testing.assert_allclose(rows(outputs["strokes"][row], len(expected)), expected,
                                   atol=1e-3)

    z = np.random.RandomState(0).standard_normal((2, Z_SIZE)).astype(np.float32)
    status, body = predict(url, "sketchgloc", "sample", "inputs",
                           {"z": z.tolist(), "temperature": 0.7, "seed": 5})
    assert status == 200
    for row, expected in enumerate(gloc.sample(z, temperature=0.7, seed=5)):
        np.testing.assert_allclose(rows(body["outputs"]["strokes"][row], len(expected)),
                                   expected, atol=1e-3)

    partial = {"strokes": STROKES, "lengths": [4, 4, 4]}
    status, body = predict(url, "sketchgloc", "complete", "inputs", {**partial, **GREEDY})
    assert status == 200
    completed = gloc.complete([sketch[:4] for sketch in SKETCHES], temperature=0.0)
    for row, expected in enumerate(completed):
        length = body["outputs"]["lengths"][row]
        assert 4 + length == len(expected)
        np.testing.assert_allclose(rows(body["outputs"]["strokes"][row], length),
                                   expected[4:], atol=1e-3)


def test_sketch_bert_signatures_give_the_tasks_numbers(url, tasks):
    bert = tasks["bert"]
    status, body = predict(url, "sketch_bert", "classify", "inputs", SKETCH_INPUTS)
    assert status == 200
    outputs = body["outputs"]
    np.testing.assert_allclose(outputs["probabilities"], bert.class_probabilities(SKETCHES),
                               atol=1e-5)
    for row, ranked in enumerate(bert.classify(SKETCHES, top_k=5)):
        assert outputs["top_classes"][row] == [name for name, _ in ranked]
        assert set(outputs["top_classes"][row]) <= set(CLASS_NAMES)
        np.testing.assert_allclose(outputs["top_probabilities"][row],
                                   [probability for _, probability in ranked], atol=1e-5)
    status, body = predict(url, "sketch_bert", "serving_default", "inputs", SKETCH_INPUTS)
    assert status == 200  # one output: the bare value, as TF Serving answers
    np.testing.assert_allclose(body["outputs"], bert.embed(SKETCHES), atol=1e-5)


@pytest.mark.parametrize("model, signature", [("sketchgloc", "serving_default"),
                                              ("sketch_bert", "classify"),
                                              ("sketch_bert", "serving_default")])
def test_row_layout_equals_the_columnar_one(url, model, signature):
    instances = [{"strokes": strokes, "lengths": length}
                 for strokes, length in zip(STROKES, LENGTHS)]
    status, rows = predict(url, model, signature, "instances", instances)
    assert status == 200
    _, columns = predict(url, model, signature, "inputs", SKETCH_INPUTS)
    columns = columns["outputs"]
    for row, prediction in enumerate(rows["predictions"]):
        if isinstance(columns, dict):
            for name, values in columns.items():
                assert prediction[name] == values[row]
        else:
            assert prediction == columns[row]


@pytest.mark.parametrize("signature", ["sample", "reconstruct", "complete"])
def test_row_layout_of_signatures_with_scalar_inputs_names_the_scalar(url, signature):
    # As in TF Serving, every input of an instance gains the batch dimension.
    inputs = {"z": [0.0] * Z_SIZE} if signature == "sample" else {"strokes": STROKES[0],
                                                                   "lengths": 4}
    status, body = predict(url, "sketchgloc", signature, "instances",
                           [{**inputs, **GREEDY}, {**inputs, **GREEDY}])
    assert status == 400 and "temperature must be a scalar" in body["error"]


NAN_BODY = b'{"inputs": {"strokes": [[[NaN, 1, 0], [2, 2, 1]]], "lengths": [2]}}'
BAD_REQUESTS = {
    "invalid JSON": (b'{"inputs": {"strokes": [[[1, 2', "the body is not valid JSON"),
    "not an object": (b"[1, 2]", "the body must be a JSON object"),
    "both layouts": (json.dumps({"inputs": SKETCH_INPUTS, "instances": [1]}).encode(),
                     "exactly one of \"inputs\" (columnar) and \"instances\" (row)"),
    "unknown signature": (json.dumps({"signature_name": "draw", "inputs": SKETCH_INPUTS}).encode(),
                          "unknown signature_name 'draw'; this model has complete, reconstruct, "
                          "sample, serving_default"),
    "unknown input": (json.dumps({"inputs": {**SKETCH_INPUTS, "extra": 1}}).encode(),
                      "serving_default has no input 'extra'"),
    "missing input": (json.dumps({"inputs": {"strokes": STROKES}}).encode(),
                      "serving_default needs 'lengths'"),
    "NaN": (NAN_BODY, "strokes contain NaN or infinite values within lengths"),
    "ragged": (json.dumps({"inputs": {"strokes": [[[1, 2, 0]], [[1, 2, 0], [3, 4, 1]]],
                                      "lengths": [1, 2]}}).encode(),
               "input 'strokes' is not a rectangular array"),
    "text values": (json.dumps({"inputs": {"strokes": [[["a", 2, 0]]], "lengths": [1]}}).encode(),
                    "input 'strokes' must be an array of numbers"),
    "wrong shape": (json.dumps({"inputs": {"strokes": STROKES[0], "lengths": [3]}}).encode(),
                    "strokes must be a rank-3 [B, P, 3] batch"),
    "wrong width": (json.dumps({"inputs": {"strokes": [[[1, 2]]], "lengths": [1]}}).encode(),
                    "strokes must have 3 columns"),
    "length over P": (json.dumps({"inputs": {"strokes": STROKES,
                                             "lengths": [WIDTH + 1, 3, 3]}}).encode(),
                      "lengths must not exceed P"),
    "negative length": (json.dumps({"inputs": {"strokes": STROKES, "lengths": [-1, 3, 3]}}
                                   ).encode(), "lengths must be >= 0"),
    "fractional length": (json.dumps({"inputs": {"strokes": STROKES, "lengths": [2.5, 3, 3]}}
                                     ).encode(), "input 'lengths' must hold integers (int32)"),
    "batch over the limit": (json.dumps({"inputs": {"strokes": [[[1, 2, 1]]] * 65,
                                                    "lengths": [1] * 65}}).encode(),
                             "input 'strokes' has 65 rows, more than this server's limit of 64"),
    "body over the limit": (b'{"inputs": ' + b" " * server.DEFAULT_MAX_BODY_BYTES + b"1}",
                            f"over this server's limit of {server.DEFAULT_MAX_BODY_BYTES} bytes"),
}


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
def test_bad_requests_are_400_with_the_message(url, case):
    body, message = BAD_REQUESTS[case]
    status, answer = call(url, "/v1/models/sketchgloc:predict", raw=body)
    assert status == 400, answer
    assert message in answer["error"]
    assert "\n" not in answer["error"] and "{{node" not in answer["error"]
    assert call(url, "/v1/models/sketchgloc")[0] == 200  # still up


def test_bad_sampling_inputs_are_400(url):
    status, body = predict(url, "sketchgloc", "sample", "inputs",
                           {"z": [[0.0] * (Z_SIZE + 1)], **GREEDY})
    assert status == 400 and f"z must have {Z_SIZE} columns" in body["error"]
    status, body = predict(url, "sketchgloc", "complete", "inputs",
                           {"strokes": STROKES, "lengths": [0, 3, 3], **GREEDY})
    assert status == 400 and "lengths must be >= 1 to complete a sketch" in body["error"]
    status, body = predict(url, "sketchgloc", "reconstruct", "inputs",
                           {**SKETCH_INPUTS, "temperature": -1.0, "seed": 0})
    assert status == 400 and "temperature must be >= 0" in body["error"]


def test_sixteen_concurrent_requests_get_their_own_answers(url):
    requests = [("sketch_bert", "classify", {"strokes": [STROKES[i % 3]], "lengths": [LENGTHS[i % 3]]})
                if i % 2 else
                ("sketchgloc", "reconstruct", {"strokes": [STROKES[i % 3]],
                                               "lengths": [LENGTHS[i % 3]], **GREEDY})
                for i in range(16)]
    expected = [predict(url, model, signature, "inputs", inputs)
                for model, signature, inputs in requests[:6]]
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda request: predict(url, request[0], request[1], "inputs",
                                                        request[2]), requests))
    assert all(status == 200 for status, _ in answers)
    for index, answer in enumerate(answers):
        assert answer == expected[index % 6]


def test_status_metadata_page_and_unknown_model(url):
    assert call(url, "/v1/models/sketch_bert") == (200, {"model_version_status": [{
        "version": "1", "state": "AVAILABLE", "status": {"error_code": "OK",
                                                         "error_message": ""}}]})
    status, body = call(url, "/v1/models/sketch_bert/metadata")
    signature = body["metadata"]["signature_def"]["signature_def"]["classify"]
    assert sorted(signature["outputs"]) == ["logits", "probabilities", "top_classes",
                                            "top_probabilities"]
    assert signature["inputs"]["lengths"]["dtype"] == "int32"
    status, body = call(url, "/v1/models/sketchrnn")
    assert status == 404 and "no model 'sketchrnn'; this server has sketch_bert, sketchgloc" in \
        body["error"]
    status, config = call(url, "/demo/config.json")
    assert config["models"]["sketchgloc"]["max_points"] == GLOC_SIZES["max_seq_len"]
    assert config["models"]["sketch_bert"]["classify"] is True
    with urllib.request.urlopen(url + "/", timeout=30) as response:
        page = response.read().decode()
    assert '<canvas id="pad"' in page and "/static/demo.js" in page
    for script in ("demo.js", "strokes.js", "demo.css"):
        with urllib.request.urlopen(f"{url}/static/{script}", timeout=30) as response:
            assert response.status == 200


def test_relay_forwards_to_a_model_server(url, demo_server):
    limits = {name: model.limits for name, model in demo_server["models"].items()}
    with running_server(server.create_app({}, limits, tf_serving=url)) as relay_url:
        assert predict(relay_url, "sketch_bert", "classify", "inputs", SKETCH_INPUTS) == \
            predict(url, "sketch_bert", "classify", "inputs", SKETCH_INPUTS)
        status, body = call(relay_url, "/v1/models/sketchgloc:predict", raw=NAN_BODY)
        assert status == 400 and "NaN" in body["error"]
        assert call(relay_url, "/v1/models/sketchgloc")[0] == 200
    with running_server(server.create_app({}, limits, tf_serving="http://127.0.0.1:9")) as bad:
        status, body = call(bad, "/v1/models/sketchgloc")
        assert status == 502 and "model server http://127.0.0.1:9 unreachable" in body["error"]


def _demo_command(*args):
    return subprocess.Popen([sys.executable, "-m", "sketch_demo", *args], cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))


def test_command_line_serves_relays_and_reports_errors(url, demo_presets):
    relaying = _demo_command("--port", "0", "--tf_serving", url, "--gloc", demo_presets["gloc"],
                             "--bert", demo_presets["bert"])
    failing = _demo_command("--gloc", "no_such_preset", "--port", "0")
    try:
        line = relaying.stdout.readline()
        assert line.startswith("serving the demo on http://127.0.0.1:"), relaying.stderr.read()
        demo_url = line.split()[-1].rstrip("/")
        status, body = predict(demo_url, "sketch_bert", "classify", "inputs", SKETCH_INPUTS)
        assert status == 200 and len(body["outputs"]["top_classes"][0]) == 5
        status, config = call(demo_url, "/demo/config.json")
        assert config["tf_serving"] == url
        assert config["models"]["sketch_bert"]["max_points"] == 39
    finally:
        relaying.terminate()
        relaying.wait(timeout=30)
    _, stderr = failing.communicate(timeout=120)
    assert failing.returncode == 1
    assert stderr.strip().splitlines()[-1].startswith("error: 'no_such_preset' is neither a "
                                                     "registered preset")
    assert "Traceback" not in stderr


def test_help_does_not_import_tensorflow():
    code = ("import sys; from flags import demo; status = demo.main(['--help']); "
            "assert 'tensorflow' not in sys.modules; sys.exit(status)")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "--tf_serving URL" in done.stdout and "default 127.0.0.1" in done.stdout


def test_the_examples_of_docs_serving_run_against_the_demo(url):
    text = (REPO_ROOT / "docs" / "serving.md").read_text(encoding="utf-8")
    section = text.split("## REST examples against the browser demo")[1]
    examples = re.findall(r"curl -s -d '(\{.*?\})' http://127\.0\.0\.1:8000(/v1/models/\S+)",
                          section)
    assert len(examples) == 5
    for body, path in examples:
        status, answer = call(url, path, raw=body.encode())
        assert status == (400 if "NaN" in body else 200), (body, answer)
        if "NaN" in body:
            assert "strokes contain NaN or infinite values" in answer["error"]
        if "classify" in body:
            assert len(answer["predictions"][0]["top_classes"]) == 5
