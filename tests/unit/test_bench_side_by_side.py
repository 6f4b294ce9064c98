"""bench/bert_side_by_side.py without the original code: its checks of the command line, the
reading of the benchmarks' JSON lines, the comparison record and the run-time stand-ins."""

import importlib.util
import json
import os
import subprocess
import sys
import types

import pytest

from sketch_common.errors import UserError

_PATH = os.path.join(os.path.dirname(__file__), "..", "..", "bench", "bert_side_by_side.py")
_SPEC = importlib.util.spec_from_file_location("bench_bert_side_by_side", _PATH)
side_by_side = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(side_by_side)

CLONE = "git clone https://github.com/avalonstrel/SketchBERT"


def fake_checkout(root, files=side_by_side.UPSTREAM_REQUIRED_FILES):
    """A folder holding empty files at `files` (enough for the path checks)."""
    root.mkdir()
    for name in files:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    return root


def test_missing_upstream_dir_is_one_line_without_traceback(tmp_path):
    missing = tmp_path / "SketchBERT"
    result = subprocess.run(
        [sys.executable, _PATH, "--upstream_dir", str(missing)], capture_output=True, text=True,
        timeout=120)
    assert result.returncode != 0
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"error: --upstream_dir {missing}: no such folder; clone it with `{CLONE}` and pass "
        "that folder"]


@pytest.mark.parametrize("files, extra_args, message", [
    ((), [], r"not a checkout of https://github.com/avalonstrel/SketchBERT "
             r"\(models/SketchTransformer/models/trainer.py is missing\)"),
    (side_by_side.UPSTREAM_REQUIRED_FILES[:1], [],
     r"\(models/SketchTransformer/models/networks.py is missing\)"),
    (side_by_side.UPSTREAM_REQUIRED_FILES, ["--runs", "0"], r"--runs 0: must be at least 1"),
    (side_by_side.UPSTREAM_REQUIRED_FILES, ["--threads", "-1"],
     r"--threads -1: must be at least 1"),
    (side_by_side.UPSTREAM_REQUIRED_FILES, ["--no_such_key=3"], r"no_such_key"),
    (side_by_side.UPSTREAM_REQUIRED_FILES, ["--task_types=['maskrec','sketchclsinput']"],
     r"compares the maskrec step"),
])
def test_bad_arguments_stop_before_any_measurement(tmp_path, monkeypatch, files, extra_args,
                                                   message):
    checkout = fake_checkout(tmp_path / "checkout", files)
    spawned = []
    monkeypatch.setattr(side_by_side.subprocess, "run", lambda *a, **k: spawned.append(a))
    with pytest.raises(UserError, match=message):
        side_by_side.main(["--upstream_dir", str(checkout), *extra_args])
    assert spawned == []


def test_upstream_dir_is_required():
    with pytest.raises(UserError, match=f"--upstream_dir is required.*{CLONE}"):
        side_by_side.main(["--runs", "2"])


def test_parse_measurement_takes_the_last_line_of_the_asked_benchmark():
    output = "\n".join([
        "some log line",
        json.dumps({"bench": "bert_train_step", "median_s": 1.0}),
        "{not json",
        json.dumps({"bench": "bert_inference", "median_s": 9.0}),
        json.dumps({"bench": "bert_train_step", "median_s": 2.0}),
        json.dumps([1, 2]),
    ])
    assert side_by_side.parse_measurement(output, "bert_train_step")["median_s"] == 2.0
    assert side_by_side.parse_measurement(output, "bert_inference")["median_s"] == 9.0
    with pytest.raises(UserError, match="no 'bert_side_by_side_compare' JSON line"):
        side_by_side.parse_measurement(output, "bert_side_by_side_compare")


def record(bench, side, median_s, cpu_s, load, items_per_s=1.0):
    return {"bench": bench, "side": side, "median_s": median_s, "cpu_s": cpu_s,
            "items_per_s": items_per_s, "load_average": load}


CANNED = [
    record("bert_train_step", "upstream", 10.0, 9.0, 1.5, 0.8),
    record("bert_train_step", "port", 5.0, 4.0, 1.6, 1.6),
    record("bert_inference", "upstream", 16.0, 15.0, 1.7, 2.0),
    record("bert_inference", "port", 8.0, 6.0, 1.2, 4.0),
    record("bert_train_step", "upstream", 12.0, 11.0, 2.5, 0.6),
    record("bert_train_step", "port", 7.0, 6.0, 1.9, 1.2),
    record("bert_inference", "upstream", 20.0, 17.0, 1.8, 1.6),
    record("bert_inference", "port", 8.0, 8.0, 1.4, 4.0),
]


def test_compare_record_is_the_ratio_of_the_medians_over_rounds():
    result = side_by_side.compare_record(CANNED, "2026-12-02T10:00:00+00:00", (1.25, 1.5, 2.0))
    assert result == {
        "bench": "bert_side_by_side_compare",
        "date": "2026-12-02T10:00:00+00:00",
        "train": {"upstream_median_s": 11.0, "port_median_s": 6.0, "ratio": 1.833,
                  "upstream_cpu_s": 10.0, "port_cpu_s": 5.0, "cpu_ratio": 2.0,
                  "upstream_items_per_s": 0.7, "port_items_per_s": 1.4, "rounds": 2},
        "inference": {"upstream_median_s": 18.0, "port_median_s": 8.0, "ratio": 2.25,
                      "upstream_cpu_s": 16.0, "port_cpu_s": 7.0, "cpu_ratio": 2.286,
                      "upstream_items_per_s": 1.8, "port_items_per_s": 4.0, "rounds": 2},
        "load_average": {"min_1min": 1.2, "max_1min": 2.5, "end_1_5_15min": [1.25, 1.5, 2.0]},
    }


def test_compare_record_needs_both_sides_of_each_workload():
    without_port_inference = [line for line in CANNED
                              if (line["bench"], line["side"]) != ("bert_inference", "port")]
    with pytest.raises(ValueError, match="no port measurement of bert_inference"):
        side_by_side.compare_record(without_port_inference, "today", (0.0, 0.0, 0.0))


def test_stubbed_imports_stand_in_only_for_missing_packages():
    names = ("json", "no_such_package_for_sketchbert", "no_such_package_for_sketchbert.models",
             "json.no_such_submodule")
    try:
        stubbed = side_by_side.stub_unused_imports(names)
        assert stubbed == ["no_such_package_for_sketchbert",
                           "no_such_package_for_sketchbert.models"]
        import no_such_package_for_sketchbert.models as models

        assert models is sys.modules["no_such_package_for_sketchbert.models"]
        with pytest.raises(AttributeError, match="no_such_package_for_sketchbert.models is not "
                                                 "installed.*no_such_package_for_sketchbert"
                                                 ".models.resnet50"):
            models.resnet50
        assert "json.no_such_submodule" not in sys.modules
    finally:
        for name in names[1:3]:
            sys.modules.pop(name, None)


def test_cpu_device_torch_maps_every_device_to_the_cpu_and_forwards_the_rest():
    fake_torch = types.SimpleNamespace(device=lambda name: ("device", name), zeros="zeros")
    stand_in = side_by_side.CpuDeviceTorch(fake_torch)
    assert stand_in.device("cuda:1") == ("device", "cpu")
    assert stand_in.zeros == "zeros"
