"""TF1 checkpoint conversion for every cell type, error reporting, CLI and CHECKPOINT_DIR loading."""

import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from sketchgloc_tf2 import hparams as hparams_lib
from flags.gloc_convert import main
from sketchgloc_tf2.checkpoint import WEIGHTS_NAME, load_checkpoint_dir
from sketchgloc_tf2.convert import (
    convert_tf1,
    infer_architecture,
    load_any_checkpoint,
    read_tf1_checkpoint,
    tf1_variable_map,
)
from sketchgloc_tf2.errors import SketchCheckpointError, SketchConfigError
from sketchgloc_tf2.model import SketchGlocModel
from sketch_common.presets import read_metadata
from helpers.gloc_models import random_batch, tiny_hparams

OPTIONAL_EXTRAS = {
    "sketchBoard/num_of_steps": np.float32(1.0),
    "sketchBoard/beta1_power": np.float32(0.9),
    "sketchBoard_1/beta2_power": np.float32(0.999),
}


def tf1_values(model):
    """The model's weights under their TF1 names (what the original graph would have saved)."""
    values = {}
    for name, (variable, index) in tf1_variable_map(model).items():
        value = variable.numpy()
        values[name] = value if index is None else value[index]
    return values


def write_tf1_checkpoint(values, prefix):
    """Writes a TF1-format checkpoint with exactly these variable names (compat.v1 Saver)."""
    graph = tf.Graph()
    with graph.as_default():
        variables = {
            name: tf.compat.v1.Variable(np.asarray(value), name=f"var_{number}")
            for number, (name, value) in enumerate(values.items())
        }
        saver = tf.compat.v1.train.Saver(var_list=variables)
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            return saver.save(session, prefix)


def randomised_model(hparams, seed):
    rng = np.random.default_rng(seed)
    model = SketchGlocModel.from_hparams(hparams)
    for variable in model.weights:
        if "seed_generator" in variable.path:
            continue
        noise = rng.normal(0.0, 0.3, variable.shape).astype(np.float32)
        if "moving_variance" in variable.path:
            noise = np.abs(noise) + 0.5
        variable.assign(noise)
    return model


def eval_outputs(model, batch):
    return model.compute_loss_from_batch(batch, training=False)[1]


def assert_same_outputs(actual, expected):
    for name in ("p_mu", "p_sigma2", "enc_last_h", "initial_state", "dec_fc_out", "final_state",
                 "loss"):
        np.testing.assert_allclose(actual[name], expected[name], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("enc_model,dec_model",
                         [("lstm", "hyper"), ("layer_norm", "lstm"), ("hyper", "layer_norm")])
def test_conversion_round_trip_for_cell_types(tmp_path, enc_model, dec_model):
    hparams = tiny_hparams(enc_model=enc_model, dec_model=dec_model)
    source = randomised_model(hparams, seed=1)
    values = dict(tf1_values(source), **OPTIONAL_EXTRAS)
    prefix = write_tf1_checkpoint(values, str(tmp_path / "vector"))
    _, shapes = read_tf1_checkpoint(prefix)
    assert infer_architecture(shapes) == dict(
        enc_model=enc_model, enc_rnn_size=4, dec_model=dec_model, dec_rnn_size=6, z_size=3,
        num_mixture_components=2)
    if dec_model == "layer_norm":
        assert not any(name.startswith("sketchBoard/decoder/decoder/rnn/LayerNormLSTMCell/bias")
                       for name in shapes)
    batch = random_batch(np.random.default_rng(2))
    assert_same_outputs(eval_outputs(convert_tf1(prefix, hparams), batch),
                        eval_outputs(source, batch))


def test_fixture_checkpoint_names_are_all_mapped(gloc_bundle):
    hparams = hparams_lib.load_config(str(gloc_bundle / "model_config.json"))
    model = convert_tf1(str(gloc_bundle / "ckpt" / "model"), hparams)
    mapping = tf1_variable_map(model)
    trainable = [name for name, (var, _) in mapping.items() if var.trainable]
    assert len(trainable) == 63 and len(mapping) == 65


@pytest.fixture(scope="module")
def lstm_checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tf1")
    hparams = tiny_hparams(dec_model="lstm")
    source = randomised_model(hparams, seed=3)
    prefix = write_tf1_checkpoint(tf1_values(source), str(folder / "ckpt" / "vector"))
    hparams_lib.save_config(hparams, str(folder / "model_config.json"))
    return folder, prefix, hparams, source


def test_unmatched_and_missing_variables_are_listed(tmp_path, lstm_checkpoint):
    _, _, hparams, source = lstm_checkpoint
    values = tf1_values(source)
    del values["sketchBoard/gcn_weight_2"]
    values["sketchBoard/extra_layer/fc_w"] = np.zeros((2, 2), np.float32)
    prefix = write_tf1_checkpoint(values, str(tmp_path / "broken"))
    with pytest.raises(SketchCheckpointError) as error:
        convert_tf1(prefix, hparams)
    message = str(error.value)
    assert "missing variables (1): sketchBoard/gcn_weight_2" in message
    assert "unmatched variables (1): sketchBoard/extra_layer/fc_w" in message


def test_config_disagreeing_with_checkpoint_is_reported(lstm_checkpoint):
    _, prefix, hparams, _ = lstm_checkpoint
    with pytest.raises(SketchCheckpointError, match="z_size: config 5, checkpoint 3"):
        convert_tf1(prefix, hparams.replace(z_size=5))
    with pytest.raises(SketchCheckpointError, match="dec_model: config 'hyper', checkpoint 'lstm'"):
        convert_tf1(prefix, hparams.replace(dec_model="hyper"))


def test_cli_writes_native_checkpoint_dir(tmp_path, lstm_checkpoint):
    folder, prefix, hparams, source = lstm_checkpoint
    output = tmp_path / "native"
    assert main(["--tf1_checkpoint", str(folder / "ckpt"), "--config",
                 str(folder / "model_config.json"), "--output", str(output)]) == 0
    assert set(os.listdir(output)) == {"model_config.json", WEIGHTS_NAME, "preset.json"}
    assert read_metadata(str(output))["source"].startswith(os.path.abspath(str(folder / "ckpt")))
    model, loaded_hparams = load_checkpoint_dir(str(output))
    assert loaded_hparams == hparams
    batch = random_batch(np.random.default_rng(4))
    assert_same_outputs(eval_outputs(model, batch), eval_outputs(source, batch))


def test_cli_refuses_to_overwrite_a_checkpoint_without_overwrite(tmp_path, lstm_checkpoint):
    folder, _, _, _ = lstm_checkpoint
    output = tmp_path / "native"
    output.mkdir()
    (output / "model_config.json").write_text("{}")
    command = ["--tf1_checkpoint", str(folder / "ckpt"), "--config",
               str(folder / "model_config.json"), "--output", str(output)]
    with pytest.raises(SketchConfigError, match="already holds a checkpoint.*--overwrite"):
        main(command)
    assert set(os.listdir(output)) == {"model_config.json"}
    assert main(command + ["--overwrite"]) == 0
    assert set(os.listdir(output)) == {"model_config.json", WEIGHTS_NAME, "preset.json"}


def test_checkpoint_dir_accepts_tf1_prefix_and_folder(tmp_path, lstm_checkpoint):
    folder, prefix, _, source = lstm_checkpoint
    batch = random_batch(np.random.default_rng(5))
    expected = eval_outputs(source, batch)
    for path in (prefix, str(folder / "ckpt")):
        model, _ = load_any_checkpoint(path)
        assert_same_outputs(eval_outputs(model, batch), expected)
    lonely = tmp_path / "lonely"
    shutil.copytree(folder / "ckpt", lonely / "ckpt")
    with pytest.raises(SketchCheckpointError, match="no model_config.json"):
        load_any_checkpoint(str(lonely / "ckpt" / os.path.basename(prefix)))
    with pytest.raises(SketchCheckpointError, match="no such checkpoint directory"):
        load_any_checkpoint(str(tmp_path / "nothing_here"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(SketchCheckpointError, match="neither a native checkpoint directory"):
        load_any_checkpoint(str(tmp_path / "empty"))
