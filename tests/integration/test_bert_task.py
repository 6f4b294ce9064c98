"""The `SketchBert` task: raw stroke-3 sketches in, embeddings, named classes and features out."""

import numpy as np
import pytest
import tensorflow as tf

from bert_tf2 import SketchBert
from bert_tf2.config import load_config
from bert_tf2.errors import BertConfigError, BertDataError
from bert_tf2.model import build_model
from helpers.bert_data import tiny_config
from helpers.raw_sketches import random_sketches
from sketch_common.presets import PresetError, read_metadata

NAMES = ["apple", "bee", "cat"]


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    root = tmp_path_factory.mktemp("bert_task")
    config = load_config(tiny_config(root, "task", task_types=["sketchclsinput",
                                                               "sketchretrieval"]))
    return SketchBert(build_model(config), config, NAMES)


@pytest.fixture(scope="module")
def sketches():
    return random_sketches((6, 15, 9), spread=20)


def test_classify_names_the_classes_in_probability_order(task, sketches):
    probabilities = task.class_probabilities(sketches)
    assert probabilities.shape == (3, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    ranked = task.classify(sketches, top_k=2)
    for row, pairs in zip(probabilities, ranked):
        assert [name for name, _ in pairs] == [NAMES[i] for i in np.argsort(-row)[:2]]
        assert pairs[0][1] == pytest.approx(row.max())


def test_embed_and_retrieval_features_per_sketch(task, sketches):
    embedding = task.embed(sketches)
    assert embedding.shape == (3, 16) and embedding.dtype == np.float32
    np.testing.assert_allclose(task.embed(sketches[2:])[0], embedding[2], rtol=1e-5, atol=1e-6)
    assert task.retrieval_features(sketches).shape == (3, task.config["rel_feat_dim"])


def test_preset_round_trip_keeps_weights_class_names_and_metadata(task, sketches, tmp_path):
    task.save_to_preset(str(tmp_path / "preset"), {"description": "tiny"})
    restored = SketchBert.from_preset(str(tmp_path / "preset"))
    assert restored.class_names == NAMES
    np.testing.assert_array_equal(restored.embed(sketches), task.embed(sketches))
    assert read_metadata(str(tmp_path / "preset")) == {"description": "tiny"}


def test_unknown_preset_lists_the_registered_ones(monkeypatch, tmp_path):
    monkeypatch.setitem(SketchBert.presets, "tiny_one", {"description": "x"})
    with pytest.raises(PresetError, match=r"'nope' is neither a registered preset \(registered: "
                                          r"sketch_bert_qd336_small, sketch_bert_qd336_small_cls, "
                                          r"tiny_one\)"):
        SketchBert.from_preset("nope")
    with pytest.raises(PresetError, match="registered but its files are missing"):
        SketchBert.from_preset("tiny_one")


def test_missing_head_and_bad_sketches_are_clear_errors(task, tmp_path):
    config = load_config(tiny_config(tmp_path, "maskrec", task_types=["maskrec"]))
    pretrained = SketchBert(build_model(config), config)
    with pytest.raises(BertConfigError, match="no sketchclsinput head"):
        pretrained.classify([np.zeros((3, 3))])
    with pytest.raises(BertDataError, match="sketch 1: holds NaN"):
        task.embed([np.zeros((3, 3)), np.full((3, 3), np.nan)])
    with pytest.raises(BertDataError, match="sketch 0: 30 points, more than the model's maximum "
                                            "of 23"):
        task.embed([np.zeros((30, 3))])


def test_fit_lowers_the_loss(tmp_path, sketches):
    config = load_config(tiny_config(tmp_path, "fit", task_types=["maskrec", "sketchclsinput"],
                                     learning_rate=0.003))
    task = SketchBert(build_model(config), config, NAMES)
    drawn = sketches * 8
    dataset = task.training_dataset(drawn, labels=[0, 1, 2] * 8, batch_size=8, seed=0)
    task.compile()
    first = task.evaluate(dataset, steps=3, verbose=0, return_dict=True)["loss"]
    task.fit(dataset, epochs=4, steps_per_epoch=3, verbose=0)
    assert task.evaluate(dataset, steps=3, verbose=0, return_dict=True)["loss"] < first
    with pytest.raises(BertDataError, match="labels are needed"):
        task.training_dataset(drawn)


def test_fit_runs_the_trainer_s_step(tmp_path):
    """The same weights and batch give the same loss through fit's step and the CLI trainer's."""
    from bert_tf2 import training
    from bert_tf2.data import pipeline
    from helpers.bert_data import write_memmaps

    write_memmaps(tmp_path)
    config = load_config(tiny_config(tmp_path, "same_step",
                                     task_types=["maskrec", "sketchclsinput"]))
    trainer = training.Trainer(config)
    batch = next(iter(pipeline.train_dataset(config)[0]))
    task = SketchBert(trainer.model, config)
    task.compile()
    weights = [variable.numpy() for variable in trainer.model.weights]
    cli_loss = float(trainer._train_step(batch)[0])
    for variable, value in zip(trainer.model.weights, weights):
        variable.assign(value)
    fit_step = tf.function(task.train_step, jit_compile=True)
    assert float(fit_step(batch)["loss"]) == pytest.approx(cli_loss, rel=1e-5)
