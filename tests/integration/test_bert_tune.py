"""Sketch-BERT hyperparameter search: `python -m bert_tf2.tune` on tiny synthetic memmaps."""

import json

import numpy as np
import pytest

from bert_tf2 import config as config_lib
from bert_tf2 import tune
from flags import bert_tune
from bert_tf2.errors import BertConfigError
from bert_tf2 import pictures
from helpers.bert_data import tiny_config, write_memmaps
from helpers.events import event_tags


def _search(root, max_trials):
    path = tiny_config(root, "tune", task_types=["maskrec", "sketchclsinput"],
                       num_display_samples=2, max_val_batches=1)
    return bert_tune.main([path, f"--tuning_dir={root / 'tuning'}", f"--max_trials={max_trials}",
                      "--trial_iterations=2", "--num_layers_choices=1,2",
                      "--num_heads_choices=2", "--hidden_size_choices=8,16",
                      "--learning_rate_range=1e-3,3e-3", "--print_every=1"])


def test_space_checks_and_trial_settings():
    with pytest.raises(BertConfigError, match="not a multiple of 6 heads"):
        tune.SearchSpace(num_heads=(6,), hidden_size=(16,)).hyperparameters()
    with pytest.raises(BertConfigError, match="0 < MIN < MAX"):
        tune.SearchSpace(learning_rate=(1.0, 0.1)).hyperparameters()
    assert tune.config_overrides({"num_layers": 2, "num_heads": 4, "hidden_size": 32,
                                  "learning_rate": 1e-4}) == {
        "layers_setting": [[4, 32, 128], [4, 32, 128]], "learning_rate": 1e-4}
    assert tune.objective_for(["maskrec"]).direction == "min"
    assert tune.objective_for(["maskrec", "sketchclsinput"]).name == "val_accuracy_1"


@pytest.mark.slow
def test_tiny_search_resumes_and_writes_the_best_config(tmp_path, capsys):
    write_memmaps(tmp_path)
    assert _search(tmp_path, max_trials=1) == 0
    trials = tmp_path / "tuning" / tune.PROJECT_NAME
    first = sorted(trials.glob("trial_*/latest/checkpoint.json"))
    assert len(first) == 1
    first_written = first[0].stat().st_mtime_ns

    assert _search(tmp_path, max_trials=2) == 0
    checkpoints = sorted(trials.glob("trial_*/latest/checkpoint.json"))
    assert len(checkpoints) == 2 and first[0].stat().st_mtime_ns == first_written
    best = tmp_path / "tuning" / tune.BEST_DIR
    record = json.loads((best / tune.TRIAL_FILE).read_text())
    assert 0.0 <= record["val_accuracy_1"] <= 1.0
    config = config_lib.load_config(str(best / tune.BEST_CONFIG))
    values = record["hyperparameters"]
    assert config.layers_setting == tune.config_overrides(values)["layers_setting"]
    assert config.learning_rate == pytest.approx(values["learning_rate"])
    assert config.checkpoint_every == 1000 and not config.stop_at_num_iterations
    assert f"Best trial {record['trial_id']}" in capsys.readouterr().out
    tags = event_tags(record["trial_dir"])
    for tag in ("val_reconstructions (images)", "val_accuracy_1 (scalars)",
                "_hparams_/session_start_info (hparams)"):
        assert tag in tags, tags


def test_reconstruction_grid_fills_masked_entries():
    stroke = np.array([[0, 0, 1, 0, 0], [3, 1, 1, 0, 0], [2, -2, 0, 1, 0], [0, 0, 0, 0, 1]],
                      np.float32)
    mask = np.ones_like(stroke)
    mask[1, :2] = 0
    mask[2, 2] = 0
    prediction = np.zeros_like(stroke)
    prediction[1, :2] = [5, 5]
    prediction[2, 2:5] = [0, 4, 1]
    masked, filled = pictures.masked_reconstruction(stroke, mask, prediction)
    assert masked[1, :2].tolist() == [0, 0]
    assert filled[1, :2].tolist() == [5, 5] and filled[2, 2:5].tolist() == [0, 1, 0]
    assert pictures.stroke3_rows(filled, 3).tolist() == [[0, 0, 0], [5, 5, 0], [2, -2, 1]]
    grid = pictures.reconstruction_grid([(stroke, mask, prediction, 3)] * 2, width=32)
    assert grid.shape == (64, 96) and grid.dtype == np.uint8 and grid.min() < 255
