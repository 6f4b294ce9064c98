"""Tests of the Sketch-BERT trainer on a tiny config and synthetic memmaps."""

import json
import os

import numpy as np
import pytest

from flags import bert_main as cli
from bert_tf2 import config as config_lib
from bert_tf2 import training
from bert_tf2.state_dicts import export_state_dicts
from bert_tf2 import metrics
from helpers.bert_data import tiny_config, write_memmaps



@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("bert_training")
    write_memmaps(root)
    return root


def _weights(trainer):
    return {f"{state}/{key}": value for state, table in export_state_dicts(trainer.model).items()
            for key, value in table.items()}


def test_loss_falls_and_resume_matches_uninterrupted_run(data_dir):
    path = tiny_config(data_dir, "full")
    full = training.Trainer(config_lib.load_config(path))
    before = full.validate()["total"]
    result = full.train()
    assert result["iteration"] == 2 * (48 // 8)
    assert result["val"]["total"] < before
    checkpoints = data_dir / "logs" / "sketch_transformer" / "full"
    assert {"latest", "best", "iter_4", "iter_8", "iter_12"} <= set(os.listdir(checkpoints))
    assert json.load(open(checkpoints / "latest" / "checkpoint.json"))["counters"]["t"] == 12

    half = training.Trainer(config_lib.load_config(path, {"num_epoch": 1, "log_dir": "half"}))
    half.train()
    resumed = training.Trainer(config_lib.load_config(path, {
        "log_dir": "half", "load_pretrained": "continue",
        "which_pretrained": ["enc_net", "task_net", "enc_opt", "task_opt"],
        "restore_checkpoint_path": str(data_dir / "logs" / "sketch_transformer" / "half" /
                                       "latest")}))
    assert resumed.iteration == 6
    assert int(resumed.optimizer.iterations.numpy()) == 6
    assert resumed.train()["iteration"] == 12
    expected, actual = _weights(full), _weights(resumed)
    for key in expected:
        np.testing.assert_allclose(actual[key], expected[key], atol=2e-5, err_msg=key)


def test_cli_test_mode_writes_metrics_json(data_dir, capsys):
    tasks = ["maskrec", "sketchclsinput", "sketchretrieval"]
    train_path = tiny_config(data_dir, "triplet", task_types=tasks, get_type="triplet", num_epoch=1)
    metrics_path = data_dir / "metrics_train.json"
    assert cli.main(["train", train_path, f"--metrics_json={metrics_path}"]) == 0
    trained = json.load(open(metrics_path))
    assert trained["iteration"] == 6 and "triplet" in trained["train"]
    checkpoint = data_dir / "logs" / "sketch_transformer" / "triplet" / "latest"
    metrics_path = data_dir / "metrics_test.json"
    assert cli.main(["test", train_path, "--load_pretrained=pretrained",
                     "--which_pretrained=[enc_net, task_net]",
                     f"--restore_checkpoint_path={checkpoint}", "--eval_split=test",
                     f"--metrics_json={metrics_path}"]) == 0
    tested = json.load(open(metrics_path))["val"]
    for key in ("total", "mask_axis", "mask_type", "prediction", "triplet", "accuracy_1",
                "accuracy_5", "retrieval_1", "retrieval_5", "retrieval_10", "map"):
        assert key in tested, key
    assert tested["accuracy_5"] == 1.0 and 0.0 <= tested["map"] <= 1.0
    assert "accuracy_1=" in capsys.readouterr().out
    assert cli.main(["tset", train_path]) == 2


def test_bad_settings_are_reported(data_dir):
    path = tiny_config(data_dir, "bad", task_types=["sketchretrieval"])
    with pytest.raises(Exception, match="get_type"):
        training.Trainer(config_lib.load_config(path))
    with pytest.raises(Exception, match="load_pretrained"):
        training.Trainer(config_lib.load_config(path, {"get_type": "triplet",
                                                       "load_pretrained": "warm"}))
    assert cli.main(["train", path, "--load_pretrained=continue", "--get_type=triplet",
                     "--restore_checkpoint_path=/nonexistent/dir"]) == 1


def _reference_retrieval(features, labels, topk):
    """The original's definitions, written as plain loops."""
    count = len(labels)
    distances = ((features[:, None] - features[None]) ** 2).sum(-1)
    np.fill_diagonal(distances, 1e8)
    hits = {k: 0 for k in topk}
    precisions = []
    for query in range(count):
        order = np.argsort(distances[query], kind="stable")
        relevant = [labels[j] == labels[query] and j != query for j in order]
        for k in topk:
            hits[k] += any(relevant[:k])
        wanted = sum(labels == labels[query]) - 1
        found, total = 0, 0.0
        for rank, is_relevant in enumerate(relevant, start=1):
            if found == wanted:
                break
            if is_relevant:
                found += 1
                total += found / rank
        if wanted:
            precisions.append(total / wanted)
    return {**{f"retrieval_{k}": hits[k] / count for k in topk}, "map": np.mean(precisions)}


def test_retrieval_and_classification_metrics():
    rng = np.random.default_rng(4)
    features = rng.normal(size=(40, 6))
    labels = rng.integers(0, 4, 40)
    labels[0] = 9  # a singleton class is left out of the mAP
    actual = metrics.retrieval_metrics(features, labels)
    expected = _reference_retrieval(features, labels, metrics.RETRIEVAL_TOPK)
    for key, value in expected.items():
        assert actual[key] == pytest.approx(value), key
    logits = np.array([[0.1, 0.9, 0.0], [0.8, 0.05, 0.15], [0.2, 0.3, 0.5]])
    assert metrics.classification_topk(logits, np.array([1, 2, 0]), (1, 2)) == {
        "accuracy_1": pytest.approx(1 / 3), "accuracy_2": pytest.approx(2 / 3)}
