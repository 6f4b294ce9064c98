"""bench/gloc_side_by_side.py without the original code: argument and checkout checks, the
one-line errors, the merging of both sides' JSON lines, and the TF1 stand-ins of
bench/upstream_tf1.py."""

import importlib.util
import json
import os
import re
import subprocess
import sys
import types

import numpy as np
import pytest

_BENCH = os.path.join(os.path.dirname(__file__), "..", "..", "bench")
_SCRIPT = os.path.join(_BENCH, "gloc_side_by_side.py")


def _load(name, filename):
    spec = importlib.util.spec_from_file_location(name, os.path.join(_BENCH, filename))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


side_by_side = _load("bench_gloc_side_by_side", "gloc_side_by_side.py")
upstream_tf1 = _load("bench_upstream_tf1", "upstream_tf1.py")


def _checkout(root, files):
    """A fake checkout: `files` maps paths under `root` to their text."""
    for path, text in files.items():
        os.makedirs(os.path.dirname(os.path.join(root, path)), exist_ok=True)
        with open(os.path.join(root, path), "w", encoding="utf-8") as file:
            file.write(text)
    return str(root)


MODEL_TEXT = "class Model(object):\n    def build_sketchBoard(self):\n        pass\n"
COMPLETE = {"rebranch/model.py": MODEL_TEXT, "rebranch/rnn.py": "", "rebranch/Cnn.py": ""}


@pytest.mark.parametrize("files, expected", [
    (None, "no such folder"),
    ({"README.md": "x"}, "rebranch/model.py is missing"),
    ({"rebranch/model.py": MODEL_TEXT, "rebranch/rnn.py": ""}, "rebranch/Cnn.py is missing"),
    (dict(COMPLETE, **{"rebranch/model.py": "class Model: pass\n"}),
     "has no 'def build_sketchBoard'"),
])
def test_a_folder_that_is_not_the_checkout_is_named_in_one_line(tmp_path, files, expected):
    folder = _checkout(tmp_path / "checkout", files) if files else str(tmp_path / "absent")
    with pytest.raises(side_by_side.SideBySideError) as raised:
        side_by_side.upstream_code_dir(folder)
    message = str(raised.value)
    assert expected in message and folder in message and "\n" not in message
    assert "github.com/CMACH508/SketchGloc" in message


def test_the_checkout_gives_its_rebranch_folder(tmp_path):
    folder = _checkout(tmp_path / "checkout", COMPLETE)
    assert side_by_side.upstream_code_dir(folder) == os.path.join(folder, "rebranch")


@pytest.mark.parametrize("arguments, expected", [
    (["--upstream_dir", "/nonexistent/SketchGloc"],
     "error: --upstream_dir /nonexistent/SketchGloc: no such folder"),
    ([], "error: --upstream_dir is required"),
    (["--upstream_dir", ".", "--sizes", "250,64"], "error: --sizes '250,64': expected 3 "),
])
def test_command_line_errors_are_one_line_without_traceback(arguments, expected):
    completed = subprocess.run([sys.executable, _SCRIPT, *arguments], capture_output=True,
                               text=True)
    assert completed.returncode != 0
    assert completed.stdout == ""
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(expected), completed.stderr


@pytest.mark.parametrize("text, count, expected", [
    ("100,16", None, [100, 16]),
    ("250,64,25", 3, [250, 64, 25]),
    ("100,0", None, None),
    ("a,b", None, None),
    ("1,2", 3, None),
])
def test_positive_ints(text, count, expected):
    if expected is None:
        with pytest.raises(side_by_side.SideBySideError, match="--flag"):
            side_by_side.positive_ints(text, "--flag", count)
    else:
        assert side_by_side.positive_ints(text, "--flag", count) == expected


def test_last_record_skips_log_lines_and_other_benchmarks():
    output = "\n".join([
        "loading data", json.dumps({"bench": "sketchgloc_train_step", "median_s": 1.0}),
        "{not json", json.dumps({"bench": "sketchgloc_train_step", "median_s": 2.0}),
        json.dumps({"bench": "other", "median_s": 3.0}), ""])
    assert side_by_side.last_record(output, "sketchgloc_train_step", "port")["median_s"] == 2.0
    with pytest.raises(side_by_side.SideBySideError, match="the port step printed no 'x'"):
        side_by_side.last_record(output, "x", "the port step")


def _record(median_s, cpu_s, load, rss, fraction, code):
    return {"bench": "b", "config": {"T": 250, "L": 64, "N": 25, "code": code}, "batch": 16,
            "median_s": median_s, "cpu_s": cpu_s, "load_average": load, "peak_rss_mb": rss,
            "fraction_of_peak": fraction}


def test_compare_record_takes_the_ratio_of_the_medians_over_the_rounds():
    upstream = [_record(4.0, 8.0, 1.0, 900.0, 0.1, "original"),
                _record(6.0, 12.0, 1.5, 950.0, 0.2, "original"),
                _record(5.0, 9.0, 2.0, 800.0, 0.3, "original")]
    port = [_record(2.0, 3.0, 1.1, 500.0, 0.5, "worktree"),
            _record(1.0, 2.0, 1.6, 700.0, 0.6, "worktree"),
            _record(2.5, 4.0, 2.1, 600.0, 0.7, "worktree")]
    record = side_by_side.compare_record(16, upstream, port, "2026-12-02T10:00", 0.5)
    assert record["bench"] == "gloc_side_by_side_compare"
    assert (record["upstream_median_s"], record["port_median_s"], record["ratio"]) == (
        5.0, 2.0, 2.5)
    assert (record["upstream_cpu_s"], record["port_cpu_s"], record["cpu_ratio"]) == (
        9.0, 3.0, 3.0)
    assert record["upstream_rounds_s"] == [4.0, 6.0, 5.0]
    assert record["port_rounds_s"] == [2.0, 1.0, 2.5]
    assert record["load_averages"] == [1.0, 1.1, 1.5, 1.6, 2.0, 2.1]
    assert (record["upstream_peak_rss_mb"], record["port_peak_rss_mb"]) == (950.0, 700.0)
    assert (record["upstream_fraction_of_peak"], record["port_fraction_of_peak"]) == (0.2, 0.6)
    assert record["config"] == {"T": 250, "L": 64, "N": 25}
    assert (record["rounds"], record["date"], record["load_average"]) == (
        3, "2026-12-02T10:00", 0.5)
    json.dumps(record)


def test_a_failed_child_is_reported_with_its_error_line():
    command = [sys.executable, "-c",
               "import sys; print('log noise', file=sys.stderr); "
               "print('error: tf.contrib.rnn.X is missing', file=sys.stderr); sys.exit(3)"]
    with pytest.raises(side_by_side.SideBySideError) as raised:
        side_by_side.run_child(command, "the original step at B=4")
    assert str(raised.value) == (
        "the original step at B=4 failed (exit status 3): tf.contrib.rnn.X is missing")


def _fake_tensorflow():
    compat_v1 = types.SimpleNamespace(placeholder="v1.placeholder", AUTO_REUSE="reuse")
    return types.SimpleNamespace(compat=types.SimpleNamespace(v1=compat_v1))


def test_tf1_namespace_resolves_compat_v1_and_names_what_is_missing():
    namespace = upstream_tf1.TF1Namespace(_fake_tensorflow())
    assert (namespace.placeholder, namespace.AUTO_REUSE) == ("v1.placeholder", "reuse")
    assert namespace.contrib.rnn.RNNCell is upstream_tf1.RNNCell
    assert namespace.contrib.layers.batch_norm is upstream_tf1.batch_norm
    for path, missing in (("contrib.rnn.DropoutWrapper", "tf.contrib.rnn.DropoutWrapper"),
                          ("contrib.training.HParams", "tf.contrib.training"),
                          ("Print", "tf.Print")):
        with pytest.raises(upstream_tf1.MissingSymbolError,
                           match=re.escape(f"{missing} is used by the original code")):
            target = namespace
            for name in path.split("."):
                target = getattr(target, name)


def test_batch_norm_stand_in_normalises_and_updates_the_moving_statistics():
    import tensorflow as tf

    v1 = tf.compat.v1
    values = np.array([[1.0, -2.0], [3.0, 0.0], [5.0, 2.0], [7.0, 4.0]], np.float32)
    with tf.Graph().as_default():
        inputs = v1.constant(values)
        outputs = upstream_tf1.batch_norm(inputs, decay=0.9, epsilon=1e-5, center=True,
                                          scale=True, updates_collections=None)
        moving = {name: v1.global_variables(f"BatchNorm/{name}")[0]
                  for name in ("moving_mean", "moving_variance")}
        with v1.Session() as session:
            session.run(v1.global_variables_initializer())
            normalised = session.run(outputs)
            mean, variance = session.run([moving["moving_mean"], moving["moving_variance"]])
    biased = values.var(axis=0)
    np.testing.assert_allclose(
        normalised, (values - values.mean(axis=0)) / np.sqrt(biased + 1.001e-5), rtol=1e-4)
    np.testing.assert_allclose(mean, 0.1 * values.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(variance, 0.9 + 0.1 * values.var(axis=0, ddof=1), rtol=1e-5)
