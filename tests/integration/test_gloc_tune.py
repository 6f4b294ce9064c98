"""SketchGloc hyperparameter search: `python -m sketchgloc_tf2.tune` on synthetic sketches."""

import json
import math
import subprocess
import sys

import keras_tuner
import pytest

from sketchgloc_tf2 import hparams as hparams_lib
from sketchgloc_tf2 import tune
from sketchgloc_tf2.data import synthetic
from sketchgloc_tf2.errors import SketchConfigError, SketchError
from helpers.paths import REPO_ROOT

ROOT = str(REPO_ROOT)
TINY_SEARCH = ["--trial_steps=3", "--enc_rnn_size_choices=4,8", "--dec_rnn_size_choices=8",
               "--z_size_choices=2,4", "--learning_rate_range=1e-3,3e-3",
               "--re_scale_choices=0.0,0.3",
               "--hparams=categories=[circle,house],dec_model=lstm,batch_size=8,"
               "use_recurrent_dropout=False"]


def _search(data_dir, tuning_dir, max_trials):
    command = [sys.executable, "-m", "sketchgloc_tf2.tune", f"--data_dir={data_dir}",
               f"--tuning_dir={tuning_dir}", f"--max_trials={max_trials}"] + TINY_SEARCH
    finished = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert finished.returncode == 0, finished.stderr[-4000:]
    return finished.stdout


def test_space_checks_and_hparams_argument():
    with pytest.raises(SketchConfigError, match="0 < MIN < MAX"):
        tune.SearchSpace(learning_rate=(1e-2, 1e-3)).hyperparameters()
    with pytest.raises(SketchConfigError, match="z_size_choices is empty"):
        tune.SearchSpace(z_size=()).hyperparameters()
    space = tune.SearchSpace().hyperparameters()
    assert sorted(space.values) == ["dec_rnn_size", "enc_rnn_size", "learning_rate", "z_size"]
    hparams = hparams_lib.HParams(categories=["bee", "bus"], z_size=64, max_seq_len=120)
    argument = tune.hparams_argument(hparams)
    assert argument == "categories=[bee,bus],z_size=64"
    assert hparams_lib.HParams().parse(argument).replace(max_seq_len=120) == hparams


@pytest.mark.slow
def test_tiny_search_resumes_and_writes_the_best_config(tmp_path):
    data_dir, tuning_dir = tmp_path / "data", tmp_path / "tuning"
    synthetic.write_dataset(str(data_dir), per_category=40, seed=1)
    _search(data_dir, tuning_dir, max_trials=1)
    trials = tuning_dir / tune.PROJECT_NAME
    first = sorted(trials.glob("trial_*/model.weights.h5"))
    assert len(first) == 1
    first_written = first[0].stat().st_mtime_ns

    output = _search(data_dir, tuning_dir, max_trials=2)
    weights = sorted(trials.glob("trial_*/model.weights.h5"))
    assert len(weights) == 2 and first[0].stat().st_mtime_ns == first_written
    best = tuning_dir / tune.BEST_DIR
    record = json.loads((best / tune.TRIAL_FILE).read_text())
    assert math.isfinite(record[tune.OBJECTIVE])
    config = hparams_lib.load_config(str(best / "model_config.json"))
    assert config.categories == ["circle", "house"] and config.max_seq_len > 0
    for name, value in record["hyperparameters"].items():
        assert getattr(config, name) == pytest.approx(value), name
    assert config.enc_rnn_size in (4, 8) and config.re_scale in (0.0, 0.3)
    assert config.num_steps == hparams_lib.HParams().num_steps
    assert (best / "model.weights.h5").exists()
    assert f"Best trial {record['trial_id']}" in output and "--hparams=" in output


def test_settings_every_trial_would_fail_on_stop_the_search(tmp_path):
    data_dir = tmp_path / "data"
    synthetic.write_dataset(str(data_dir), per_category=20, seed=1)
    base = hparams_lib.HParams(categories=["circle", "house"], batch_size=1000)
    tuner = tune.make_tuner(str(data_dir), str(tmp_path / "tuning"), base, tune.SearchSpace(),
                            max_trials=1, trial_steps=1)
    with pytest.raises(keras_tuner.errors.FatalError, match="batch_size=1000 is too large"):
        tuner.search()
    with pytest.raises(SketchError, match="no completed trial"):
        tune.write_best(tuner, str(tmp_path / "tuning"))
