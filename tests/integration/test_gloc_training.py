"""SketchGloc training loop: loss falls, exact resume, NaN guard, early stopping, train.py."""

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest

from sketch_common.progress import PlainProgress, progress_bar
from sketchgloc_tf2 import hparams as hparams_lib
from sketchgloc_tf2 import optimizers, run_state, training
from sketchgloc_tf2.data import pipeline, synthetic
from helpers.paths import REPO_ROOT

ROOT = str(REPO_ROOT)
TINY = dict(enc_rnn_size=8, dec_rnn_size=16, dec_model="lstm", z_size=4, batch_size=8,
            use_recurrent_dropout=True, save_every=1)


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("demo")
    synthetic.write_dataset(str(directory), per_category=40, seed=1)
    return str(directory)


def tiny_hparams(**changes):
    values = dict(TINY, categories=["circle", "house"])
    values.update(changes)
    return hparams_lib.HParams(**values)


def _digest(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def test_learning_rate_is_upstream_constant_unless_decay():
    constant = optimizers.UpstreamLearningRate(1e-3, 1e-5, 0.99999)
    assert abs(float(constant(0)) - 0.0009999901) < 1e-10
    assert float(constant(1000)) == float(constant(0))
    decaying = optimizers.UpstreamLearningRate(1e-3, 1e-5, 0.9, decay=True)
    assert float(decaying(10)) < float(decaying(0)) < 1e-3


def test_progress_bar_is_plain_unless_stdout_is_a_terminal(tmp_path):
    class Terminal:
        def isatty(self):
            return True

    with open(tmp_path / "log.txt", "w") as log_file:
        bar = progress_bar(3, "step", stream=log_file)
        assert isinstance(bar, PlainProgress)
        bar.update(1, [("loss", 2.0)])
        bar.add(2, [("loss", 4.0)])
        assert not isinstance(progress_bar(3, "step", verbose=False, stream=log_file),
                              PlainProgress)
    assert (tmp_path / "log.txt").read_text() == "3/3 step - 0s - loss: 3.0000\n"
    assert not isinstance(progress_bar(3, "step", stream=Terminal()), PlainProgress)


def test_resume_continues_the_same_loss_curve(demo_dir, tmp_path):
    straight = training.start_run(demo_dir, str(tmp_path / "a"), tiny_hparams(num_steps=12),
                                  save_state_steps=0, verbose=False)
    straight.run()
    first = training.start_run(demo_dir, str(tmp_path / "b"), tiny_hparams(num_steps=5),
                               save_state_steps=0, verbose=False)
    first.run()
    assert first.progress.count == 5
    resumed = training.start_run(demo_dir, str(tmp_path / "b"), tiny_hparams(num_steps=12),
                                 resume=True, save_state_steps=0, verbose=False)
    assert resumed.progress.count == 5 and resumed.progress.step_in_epoch == 5
    resumed.run()
    assert resumed.progress.count == straight.progress.count == 12
    np.testing.assert_allclose(first.train_losses, straight.train_losses[:5], rtol=1e-6)
    np.testing.assert_allclose(resumed.train_losses, straight.train_losses[5:], rtol=1e-5)
    for name in ("model_config.json", "model.weights.h5", "para.npz"):
        assert (tmp_path / "b" / name).exists()


def test_non_finite_loss_stops_and_keeps_checkpoints(demo_dir, tmp_path):
    log_root = tmp_path / "run"
    training.start_run(demo_dir, str(log_root), tiny_hparams(num_steps=4), save_state_steps=0,
                       verbose=False).run()
    weights = _digest(log_root / "model.weights.h5")
    state = _digest(log_root / "state" / run_state.STATE_FILE)
    trainer = training.start_run(demo_dir, str(log_root), tiny_hparams(num_steps=20),
                                 resume=True, save_state_steps=1, verbose=False)
    kernel = trainer.model.output_layer.kernel
    kernel.assign(np.full(kernel.shape, np.nan, dtype=np.float32))
    with pytest.raises(training.TrainingDivergedError, match=r"training loss is nan at epoch 0, "
                       r"step 4 \(4 steps in all\); stopped without saving"):
        trainer.run()
    assert _digest(log_root / "model.weights.h5") == weights
    assert _digest(log_root / "state" / run_state.STATE_FILE) == state


def test_early_stopping_after_five_flat_validations(demo_dir, tmp_path, monkeypatch):
    # Built without start_run: a batch of 40 is larger than the valid split start_run checks.
    prepared = pipeline.prepare_data(demo_dir, tiny_hparams(batch_size=40, num_steps=10 ** 6))
    trainer = training.Trainer(prepared, str(tmp_path / "run"), save_state_steps=0,
                               verbose=False)
    monkeypatch.setattr(trainer, "evaluate", lambda batcher: 1.0)
    progress = trainer.run()
    per_epoch = trainer.train_batcher.num_train_batches(40)
    assert progress.epoch == 6 and progress.best_epoch == 1 and progress.patience == 5
    assert progress.count == 6 * per_epoch


@pytest.mark.slow
@pytest.mark.realdata
def test_loss_falls_on_real_drawings(quickdraw_dir, tmp_path):
    hparams = tiny_hparams(categories=["bee", "bus"], batch_size=16, num_steps=60,
                           enc_rnn_size=16, dec_rnn_size=32, z_size=8)
    trainer = training.start_run(str(quickdraw_dir), str(tmp_path / "run"), hparams,
                                 save_state_steps=0, verbose=False)
    trainer.run()
    losses = trainer.train_losses
    assert np.mean(losses[-10:]) < 0.8 * np.mean(losses[:5])


@pytest.mark.slow
def test_train_py_trains_stops_and_resumes(demo_dir, tmp_path):
    log_root = tmp_path / "cli"
    command = [sys.executable, os.path.join(ROOT, "train.py"), f"--log_root={log_root}",
               f"--data_dir={demo_dir}", "--resume_training=False",
               "--hparams=categories=[circle,star],enc_rnn_size=8,dec_rnn_size=16,"
               "dec_model=lstm,z_size=4,batch_size=8", "--num_steps=6"]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "Done: 6 steps" in finished.stdout
    assert "\x1b[" not in finished.stdout and "\r" not in finished.stdout
    config = hparams_lib.load_config(str(log_root / "model_config.json"))
    assert config.categories == ["circle", "star"] and config.max_seq_len > 0
    assert config.normalizing_scale_factor > 0 and config.num_steps == 6
    resumed = subprocess.run(
        [sys.executable, os.path.join(ROOT, "train.py"), f"--log_root={log_root}",
         f"--data_dir={demo_dir}", "--resume_training", "--num_steps=9"],
        capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Done: 9 steps" in resumed.stdout
    bad = subprocess.run([sys.executable, os.path.join(ROOT, "train.py"),
                          f"--data_dir={demo_dir}", "--hparams=bach_size=3"],
                         capture_output=True, text=True, timeout=600)
    assert bad.returncode == 1 and "unknown hparam(s) bach_size" in bad.stderr
