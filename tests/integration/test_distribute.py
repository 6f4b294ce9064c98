"""tf.distribute: strategies, sync batch norm, mirrored runs follow the single-device trajectory.

Logical CPUs must be configured before TensorFlow initialises its devices, so every check runs in
a fresh interpreter (`python tests/test_distribute.py CHECK WORK_DIR`) that prints one JSON line;
the tests compare its numbers. The mirrored runs use 2 logical CPUs and the global batch of the
single-device run; dropout is off (masks are drawn per replica, see the trainers' docstrings).
"""

import json
import os
import pathlib
import socket
import subprocess
import sys

import numpy as np
import pytest

from helpers.paths import REPO_ROOT

ROOT = str(REPO_ROOT)
STEPS = 5
# Measured (5 steps, global batch 8): SketchGloc losses agree to 8e-8 relative, batch-norm moving
# statistics to 6e-7 relative, weights to 6e-7 absolute; Sketch-BERT losses to 3e-7 relative,
# weights to 3e-7 absolute. The stated tolerance leaves room for other CPUs and thread counts.
RTOL, ATOL = 1e-4, 1e-5
# Sketch-BERT parameters whose gradient is identically zero (the attention key bias shifts every
# logit of a query equally; the retrieval head's output bias cancels in the triplet distances):
# Adam moves them by rounding noise, differently in every run, so they are not compared.
GRADIENT_FREE = ("attention.key.bias", "rel_fcs.0.bias")


def run_check(name, work_dir, env=None):
    """Runs `main(name, work_dir)` of this file in a fresh interpreter; returns its JSON."""
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
                       PYTHONPATH=os.pathsep.join([ROOT, os.path.join(ROOT, "tests")]),
                       **(env or {}))
    finished = subprocess.run([sys.executable, os.path.abspath(__file__), name, str(work_dir)],
                              capture_output=True, text=True, timeout=300, env=environment,
                              cwd=ROOT)
    assert finished.returncode == 0, finished.stderr[-4000:]
    return json.loads(finished.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------- checks (subprocess side)

def check_strategies(work_dir):
    """Strategy construction, the late logical-CPU error and sync batch norm on 2 replicas."""
    import tensorflow as tf

    from sketch_common import distribute
    from sketch_common.errors import ConfigError
    from sketchgloc_tf2.layers.batch_norm import FusedBatchNorm

    result = {"default": distribute.make_strategy("default") is None}
    strategy = distribute.make_strategy("mirrored", logical_cpus=2)
    result["replicas"] = strategy.num_replicas_in_sync
    try:
        distribute.make_strategy("mirrored", logical_cpus=3)
    except ConfigError as error:
        result["late_error"] = str(error)
    try:
        distribute.check_global_batch(5, strategy)
    except ConfigError as error:
        result["batch_error"] = str(error)

    inputs = np.random.RandomState(0).normal(2.0, 3.0, size=(8, 6)).astype(np.float32)
    single = FusedBatchNorm(name="single")
    single.build((None, 6))
    with strategy.scope():
        synced = FusedBatchNorm(name="synced")
        synced.build((None, 6))

    def loss_and_gradients(layer, rows):
        with tf.GradientTape() as tape:
            tape.watch(rows)
            outputs = layer(rows, training=True)
            loss = tf.reduce_sum(tf.square(outputs) * tf.range(1.0, 7.0))
        return outputs, tape.gradient(loss, [rows, layer.gamma])

    outputs, (input_gradient, gamma_gradient) = loss_and_gradients(single, tf.constant(inputs))
    halves = strategy.experimental_distribute_values_from_function(
        lambda context: tf.constant(inputs[4 * context.replica_id_in_sync_group:][:4]))
    per_replica = strategy.run(tf.function(lambda rows: loss_and_gradients(synced, rows)),
                               args=(halves,))
    replica_outputs, (replica_inputs, replica_gamma) = per_replica
    stacked = {
        "outputs": np.concatenate([value.numpy() for value in replica_outputs.values]),
        "input_gradient": np.concatenate([value.numpy() for value in replica_inputs.values]),
        "gamma_gradient": sum(value.numpy() for value in replica_gamma.values),
        "moving_mean": [copy.numpy() for copy in synced.moving_mean.value.values],
        "moving_variance": [copy.numpy() for copy in synced.moving_variance.value.values],
    }
    expected = {"outputs": outputs.numpy(), "input_gradient": input_gradient.numpy(),
                "gamma_gradient": gamma_gradient.numpy(),
                "moving_mean": [single.moving_mean.numpy()] * 2,
                "moving_variance": [single.moving_variance.numpy()] * 2}
    result["sync_bn"] = {key: [np.asarray(expected[key]).tolist(),
                               np.asarray(stacked[key]).tolist()] for key in expected}
    return result


def check_multi_worker(work_dir):
    """`multi_worker` builds a MultiWorkerMirroredStrategy from a single-worker TF_CONFIG."""
    import tensorflow as tf

    from sketch_common import distribute

    strategy = distribute.make_strategy("multi_worker")
    resolver = strategy.cluster_resolver
    return {"multi_worker": isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy),
            "task": [resolver.task_type, resolver.task_id],
            "replicas": strategy.num_replicas_in_sync}


def check_gloc(work_dir):
    """SketchGloc: 5 steps single-device (XLA) vs mirrored on 2 logical CPUs, same batches; the
    single-device state restored into a mirrored trainer; a mirrored validation (new best:
    weights, test loss, reconstruction image) and the hparams summary."""
    from sketch_common import distribute

    strategy = distribute.make_strategy("mirrored", logical_cpus=2)
    from sketchgloc_tf2 import hparams as hparams_lib
    from helpers.events import event_tags
    from sketchgloc_tf2 import run_state, training
    from sketchgloc_tf2.data import pipeline, synthetic
    from sketchgloc_tf2.pictures import TrainingReconstructions

    data_dir = os.path.join(work_dir, "data")
    synthetic.write_dataset(data_dir, per_category=40, seed=1)
    hparams = hparams_lib.HParams(
        categories=["circle", "house"], enc_rnn_size=8, dec_rnn_size=16, dec_model="lstm",
        z_size=4, batch_size=8, use_recurrent_dropout=False, re_scale=0.3, num_steps=STEPS)
    prepared = pipeline.prepare_data(data_dir, hparams)
    result = {}
    for name, run_strategy in (("single", None), ("mirrored", strategy)):
        trainer = training.Trainer(prepared, os.path.join(work_dir, name), save_state_steps=0,
                                   verbose=False, strategy=run_strategy,
                                   on_best=[TrainingReconstructions()])
        trainer.train_epoch()
        trainer.save_state()
        batch_norm = trainer.model.batch_norm
        copies = getattr(batch_norm.moving_variance.value, "values", None)
        result[name] = {
            "losses": trainer.train_losses,
            "moving_mean": np.asarray(batch_norm.moving_mean.value).tolist(),
            "moving_variance": np.asarray(batch_norm.moving_variance.value).tolist(),
            "variance_copies": [copy.numpy().tolist() for copy in copies or ()],
            "weights": np.concatenate([np.ravel(variable.value)
                                       for variable in trainer.model.trainable_variables]
                                      ).tolist(),
            "iterations": int(trainer.optimizer.iterations.numpy()),
        }
    restored = training.Trainer(prepared, os.path.join(work_dir, "single"), verbose=False,
                                strategy=strategy)
    single_state = os.path.join(work_dir, "single", run_state.STATE_DIR)
    result["restored"] = {"found": restored.restore_state() and os.path.isdir(single_state),
                          "count": restored.progress.count,
                          "weights": [np.concatenate([np.ravel(variable.value.values[replica])
                                                      for variable in
                                                      restored.model.trainable_variables]
                                                     ).tolist() for replica in range(2)]}
    trainer.write_hparams()
    result["mirrored"]["valid_loss"] = trainer.validate()
    trainer.summary_writer.flush()
    result["mirrored"]["tags"] = event_tags(os.path.join(work_dir, "mirrored"))
    return result


def check_bert(work_dir):
    """Sketch-BERT (maskrec + classification, triplets): 5 steps single vs mirrored."""
    from sketch_common import distribute

    strategy = distribute.make_strategy("mirrored", logical_cpus=2)
    from bert_tf2 import config as config_lib
    from bert_tf2 import training
    from bert_tf2.state_dicts import export_state_dicts

    from helpers.bert_data import tiny_config, write_memmaps

    work_dir = pathlib.Path(work_dir)
    write_memmaps(work_dir)
    path = tiny_config(work_dir, "dist", task_types=["maskrec", "sketchclsinput",
                                                     "sketchretrieval"],
                       get_type="triplet", stop_at_num_iterations=True, num_iterations=STEPS,
                       checkpoint_every=10 ** 6, save_model_every=10 ** 6, print_every=1,
                       num_display_samples=0)
    result = {}
    for name, run_strategy in (("single", None), ("mirrored", strategy)):
        config = config_lib.load_config(path, {"log_dir": name})
        trainer = training.Trainer(config, strategy=run_strategy)
        losses = []
        original = trainer._train_step
        trainer._train_step = lambda batch: _record(losses, original(batch))
        trainer.train()
        result[name] = {"losses": losses,
                        "weights": {f"{state}/{key}": np.asarray(value).tolist()
                                    for state, table in export_state_dicts(trainer.model).items()
                                    for key, value in table.items()}}
    return result


def _record(losses, step_result):
    total, terms = step_result
    losses.append([float(total)] + [float(terms[key]) for key in sorted(terms)])
    return step_result


CHECKS = {"strategies": check_strategies, "multi_worker": check_multi_worker,
          "gloc": check_gloc, "bert": check_bert}


def main(name, work_dir):
    print(json.dumps(CHECKS[name](work_dir)))


# ---------------------------------------------------------------------- tests (pytest side)

def test_strategies_and_sync_batch_norm(tmp_path):
    result = run_check("strategies", tmp_path)
    assert result["default"] and result["replicas"] == 2
    assert "already initialised its devices" in result["late_error"]
    assert "not a multiple of the 2 replicas" in result["batch_error"]
    for key, (expected, actual) in result["sync_bn"].items():
        np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5, err_msg=key)


def test_multi_worker_strategy_from_tf_config(tmp_path):
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        port = probe.getsockname()[1]
    tf_config = {"cluster": {"worker": [f"localhost:{port}"]},
                 "task": {"type": "worker", "index": 0}}
    result = run_check("multi_worker", tmp_path, env={"TF_CONFIG": json.dumps(tf_config)})
    assert result == {"multi_worker": True, "task": ["worker", 0], "replicas": 1}


def test_train_py_strategy_flags(tmp_path):
    from sketchgloc_tf2.data import synthetic

    synthetic.write_dataset(str(tmp_path / "data"), per_category=80, seed=1)
    finished = subprocess.run(
        [sys.executable, os.path.join(ROOT, "train.py"), f"--data_dir={tmp_path / 'data'}",
         f"--log_root={tmp_path / 'run'}", "--categories=circle,house", "--batch_size=7",
         "--strategy=mirrored", "--logical_cpus=2"],
        capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert finished.returncode == 1
    assert "batch_size=7 is not a multiple of the 2 replicas" in finished.stderr


@pytest.mark.slow
def test_gloc_mirrored_run_follows_single_device(tmp_path):
    result = run_check("gloc", tmp_path)
    single, mirrored = result["single"], result["mirrored"]
    assert len(single["losses"]) == len(mirrored["losses"]) == STEPS
    assert single["iterations"] == mirrored["iterations"] == STEPS
    for key in ("losses", "moving_mean", "moving_variance", "weights"):
        np.testing.assert_allclose(mirrored[key], single[key], rtol=RTOL, atol=ATOL, err_msg=key)
    first, second = mirrored["variance_copies"]
    assert first == second
    restored = result["restored"]
    assert restored["found"] and restored["count"] == STEPS
    for copy in restored["weights"]:
        np.testing.assert_array_equal(copy, single["weights"])
    assert np.isfinite(mirrored["valid_loss"])
    for tag in ("Reconstructions (images)", "Valid_Cost (scalars)", "Test_Cost (scalars)",
                "_hparams_/session_start_info (hparams)"):
        assert tag in mirrored["tags"], mirrored["tags"]


@pytest.mark.slow
def test_bert_mirrored_run_follows_single_device(tmp_path):
    result = run_check("bert", tmp_path)
    single, mirrored = result["single"], result["mirrored"]
    assert len(single["losses"]) == len(mirrored["losses"]) == STEPS
    np.testing.assert_allclose(mirrored["losses"], single["losses"], rtol=RTOL, atol=ATOL)
    compared = [name for name in single["weights"] if not name.endswith(GRADIENT_FREE)]
    assert len(compared) == len(single["weights"]) - len(GRADIENT_FREE)
    for name in compared:
        np.testing.assert_allclose(mirrored["weights"][name], single["weights"][name],
                                   rtol=RTOL, atol=ATOL, err_msg=name)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
