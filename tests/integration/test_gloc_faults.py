"""SketchGloc training under faults: kill -9 anywhere, broken state files, runs never overwritten.

The refusal tests build a saved run without training (a state saved right after the model is
built, plus best-model files), copy it per case and break one thing. The slow test kills
`train.py` at seeded random moments (one of them inside a state save) and checks that the resumed
run ends bit-identical to an uninterrupted one.
"""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
import tensorflow as tf

from sketch_common.atomic_io import atomic_path
from sketchgloc_tf2 import hparams as hparams_lib
from sketchgloc_tf2 import run_state, training
from sketchgloc_tf2.checkpoint import save_weights
from sketchgloc_tf2.data import synthetic
from sketchgloc_tf2.errors import SketchCheckpointError, SketchConfigError
from helpers.paths import REPO_ROOT

ROOT = str(REPO_ROOT)
TINY = dict(categories=["circle", "house"], enc_rnn_size=8, dec_rnn_size=16, dec_model="lstm",
            z_size=4, batch_size=4)
STEPS = 24
TRAIN_PY = os.path.join(ROOT, "train.py")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("faults_data")
    synthetic.write_dataset(str(directory), per_category=20, seed=1,
                            categories=TINY["categories"])
    return str(directory)


def tiny_hparams(**changes):
    return hparams_lib.HParams(**dict(TINY, **changes))


@pytest.fixture(scope="module")
def saved_run(data_dir, tmp_path_factory):
    """A log_root with model_config.json, a saved state and best-model files (no training)."""
    log_root = str(tmp_path_factory.mktemp("faults_template") / "run")
    trainer = training.start_run(data_dir, log_root, tiny_hparams(), verbose=False)
    trainer.progress = run_state.Progress(epoch=1, count=7, best_valid_loss=3.5, best_epoch=1)
    save_weights(trainer.model, os.path.join(log_root, "model.weights.h5"))
    with atomic_path(os.path.join(log_root, "para.npz")) as temporary:
        np.savez(temporary, best_valid_loss=3.5, epoch=1, count=7)
    trainer.save_state()
    return log_root


@pytest.fixture
def run_copy(saved_run, tmp_path):
    log_root = str(tmp_path / "run")
    shutil.copytree(saved_run, log_root)
    return log_root


def state_record(log_root):
    with open(os.path.join(log_root, "state", run_state.STATE_FILE), encoding="utf-8") as handle:
        return json.load(handle)


def checkpoint_prefix(log_root):
    return os.path.join(log_root, "state", state_record(log_root)["checkpoint"])


def assert_one_line(error, *fragments):
    message = str(error.value)
    assert "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


# ---------------------------------------------------------------------- refusals


def test_fresh_run_over_a_run_refuses_and_deletes_nothing(data_dir, run_copy):
    before = sorted(os.listdir(run_copy)), sorted(os.listdir(os.path.join(run_copy, "state")))
    with pytest.raises(SketchConfigError) as error:
        training.start_run(data_dir, run_copy, tiny_hparams(), verbose=False)
    assert_one_line(error, run_copy, "state/", "model.weights.h5", "para.npz",
                    "--resume_training", "--overwrite")
    assert (sorted(os.listdir(run_copy)),
            sorted(os.listdir(os.path.join(run_copy, "state")))) == before


@pytest.mark.parametrize("left", ["model.weights.h5", "para.npz", "state"])
def test_any_part_of_a_run_makes_a_fresh_run_refuse(data_dir, run_copy, left):
    for name in ("model.weights.h5", "para.npz", "state"):
        if name != left:
            run_state.remove_path(os.path.join(run_copy, name))
    with pytest.raises(SketchConfigError, match="--overwrite"):
        training.start_run(data_dir, run_copy, tiny_hparams(), verbose=False)


def test_overwrite_starts_a_new_run(data_dir, run_copy):
    trainer = training.start_run(data_dir, run_copy, tiny_hparams(), verbose=False,
                                 overwrite=True)
    assert trainer.progress == run_state.Progress()
    assert not any(os.path.exists(os.path.join(run_copy, name))
                   for name in ("state", "model.weights.h5", "para.npz"))
    assert os.path.exists(os.path.join(run_copy, "model_config.json"))


def test_a_folder_with_only_a_config_and_leftovers_is_not_a_run(data_dir, tmp_path):
    log_root = tmp_path / "killed_before_first_save"
    (log_root / "state" / "ckpt-1.partial" / "ckpt_temp").mkdir(parents=True)
    hparams_lib.save_config(tiny_hparams(), str(log_root / "model_config.json"))
    trainer = training.start_run(data_dir, str(log_root), tiny_hparams(), resume=True,
                                 verbose=False)
    assert trainer.progress == run_state.Progress()
    trainer.save_state()
    assert sorted(os.listdir(log_root / "state")) == ["ckpt-0", run_state.STATE_FILE]


def test_resume_and_overwrite_exclude_each_other(data_dir, run_copy):
    with pytest.raises(SketchConfigError, match="exclude each other"):
        training.start_run(data_dir, run_copy, tiny_hparams(), resume=True, overwrite=True)


def _delete_state_file(log_root):
    os.remove(os.path.join(log_root, "state", run_state.STATE_FILE))


def _write_state_file(text):
    def corrupt(log_root):
        with open(os.path.join(log_root, "state", run_state.STATE_FILE), "w") as handle:
            handle.write(text)
    return corrupt


def _truncate_state_file(log_root):
    path = os.path.join(log_root, "state", run_state.STATE_FILE)
    with open(path, "r+b") as handle:
        handle.truncate(os.path.getsize(path) // 2)


def _drop_key(key):
    def corrupt(log_root):
        record = state_record(log_root)
        del record[key]
        _write_state_file(json.dumps(record))(log_root)
    return corrupt


def _set_key(key, value):
    def corrupt(log_root):
        record = state_record(log_root)
        record[key] = value
        _write_state_file(json.dumps(record))(log_root)
    return corrupt


_escaping_checkpoint = _set_key("checkpoint", "../../elsewhere/ckpt")


def _delete_suffix(suffix):
    def corrupt(log_root):
        os.remove(checkpoint_prefix(log_root) + suffix)
    return corrupt


def _truncate_suffix(suffix, size):
    def corrupt(log_root):
        with open(checkpoint_prefix(log_root) + suffix, "r+b") as handle:
            handle.truncate(size)
    return corrupt


def _garble_data(log_root):
    path = checkpoint_prefix(log_root) + ".data-00000-of-00001"
    size = os.path.getsize(path)
    with open(path, "wb") as handle:
        handle.write(b"\x01" * size)


def _delete_best(log_root):
    os.remove(os.path.join(log_root, "model.weights.h5"))


def _garble_best(log_root):
    with open(os.path.join(log_root, "model.weights.h5"), "wb") as handle:
        handle.write(b"not hdf5")


DATA = ".data-00000-of-00001"


@pytest.mark.parametrize("corrupt,names_file,problem", [
    (_delete_state_file, "state/training_state.json", "is missing"),
    (_write_state_file(""), "state/training_state.json", "is empty"),
    (_truncate_state_file, "state/training_state.json", "is not valid JSON"),
    (_write_state_file("[1, 2]"), "state/training_state.json", "is not a JSON object"),
    (_drop_key("best_epoch"), "state/training_state.json", "lacks best_epoch"),
    (_write_state_file('{"epoch": "one"}'), "state/training_state.json", "lacks step_in_epoch"),
    (_set_key("count", "7"), "state/training_state.json", "has count='7', not an integer"),
    (_escaping_checkpoint, "state/training_state.json", "not one inside"),
    (_delete_suffix(".index"), "/ckpt.index", "is missing"),
    (_truncate_suffix(".index", 10), "/ckpt.index", "is unreadable"),
    (_delete_suffix(DATA), "/ckpt" + DATA, "is missing"),
    (_truncate_suffix(DATA, 100), "/ckpt" + DATA, "is truncated or corrupt"),
    (_garble_data, "/ckpt" + DATA, "is truncated or corrupt"),
    (_delete_best, "model.weights.h5", "is missing, but"),
    (_garble_best, "model.weights.h5", "is unreadable"),
], ids=["no-state-file", "empty-state-file", "truncated-state-file", "state-not-object",
        "state-lacks-key", "state-wrong-keys", "state-wrong-type", "checkpoint-outside", "no-index",
        "truncated-index", "no-data", "truncated-data", "garbled-data", "no-best",
        "garbled-best"])
def test_a_broken_state_is_a_one_line_error_naming_the_file(data_dir, run_copy, corrupt,
                                                            names_file, problem):
    corrupt(run_copy)
    with pytest.raises((SketchCheckpointError, SketchConfigError)) as error:
        training.start_run(data_dir, run_copy, tiny_hparams(), resume=True, verbose=False)
    assert_one_line(error, names_file, problem, "--overwrite")
    assert os.path.exists(os.path.join(run_copy, "para.npz"))


@pytest.mark.parametrize("changes,message", [
    (dict(enc_rnn_size=16), "enc_rnn_size 8 -> 16"),
    (dict(z_size=8, dec_model="hyper"), "dec_model 'lstm' -> 'hyper', z_size 4 -> 8"),
    (dict(categories=["circle", "star"]),
     "categories ['circle', 'house'] -> ['circle', 'star']"),
    (dict(num_per_category=12), "num_per_category 70000 -> 12, which changes "),
])
def test_resume_refuses_hparams_that_change_the_model_or_data(data_dir, run_copy, changes,
                                                              message):
    config = os.path.join(run_copy, "model_config.json")
    with open(config, encoding="utf-8") as handle:
        stored = handle.read()
    with pytest.raises(SketchConfigError) as error:
        training.start_run(data_dir, run_copy, tiny_hparams(**changes), resume=True,
                           verbose=False)
    assert_one_line(error, message, "--resume_training", "model_config.json")
    with open(config, encoding="utf-8") as handle:
        assert handle.read() == stored


def test_resume_allows_harmless_changes_and_cleans_stale_temporaries(data_dir, run_copy):
    state_dir = os.path.join(run_copy, "state")
    leftovers = ["ckpt-5_temp", "ckpt-9.partial", ".tmp_abc", "ckpt-3"]
    for name in leftovers[:2] + leftovers[3:]:
        os.makedirs(os.path.join(state_dir, name, "part"))
    open(os.path.join(state_dir, ".tmp_abc"), "w").close()
    trainer = training.start_run(data_dir, run_copy,
                                 tiny_hparams(num_steps=50, learning_rate=5e-4, save_every=2),
                                 resume=True, verbose=False)
    assert trainer.progress == run_state.Progress(epoch=1, count=7, best_valid_loss=3.5,
                                                 best_epoch=1)
    in_use = state_record(run_copy)["checkpoint"].split("/")[0]
    assert sorted(os.listdir(state_dir)) == sorted([in_use, run_state.STATE_FILE])
    trainer.save_state()
    assert sorted(os.listdir(state_dir)) == ["ckpt-7-2", run_state.STATE_FILE]
    trainer.save_state()
    assert sorted(os.listdir(state_dir)) == ["ckpt-7", run_state.STATE_FILE]
    assert hparams_lib.load_config(os.path.join(run_copy, "model_config.json")).num_steps == 50


@pytest.mark.parametrize("changes,record", [
    (dict(num_steps=7), {}),
    (dict(num_steps=50), {"patience": training.PATIENCE}),
], ids=["num_steps-reached", "early-stopped"])
def test_a_stopped_run_resumed_trains_no_further(data_dir, run_copy, changes, record):
    for key, value in record.items():
        _set_key(key, value)(run_copy)
    before = state_record(run_copy)
    trainer = training.start_run(data_dir, run_copy, tiny_hparams(**changes), resume=True,
                                 verbose=False)
    progress = trainer.run()
    assert trainer.train_losses == [] and progress.count == 7
    assert state_record(run_copy) == before


def test_a_failed_save_keeps_the_previous_state(data_dir, run_copy, monkeypatch):
    trainer = training.start_run(data_dir, run_copy, tiny_hparams(), resume=True,
                                 verbose=False)
    before = state_record(run_copy)

    def full_disk(*args, **kwargs):
        raise tf.errors.ResourceExhaustedError(None, None, "No space left on device\nmore")

    monkeypatch.setattr(trainer.checkpoint, "write", full_disk)
    trainer.progress.count = 8
    with pytest.raises(SketchCheckpointError) as error:
        trainer.save_state()
    assert_one_line(error, os.path.join(run_copy, "state"), "No space left on device",
                    "previous state there is intact")
    assert state_record(run_copy) == before
    assert sorted(os.listdir(os.path.join(run_copy, "state"))) == sorted(
        [before["checkpoint"].split("/")[0], run_state.STATE_FILE])
    monkeypatch.undo()
    training.start_run(data_dir, run_copy, tiny_hparams(), resume=True, verbose=False)


def test_batch_size_larger_than_a_split_is_refused_before_training(data_dir, tmp_path):
    with pytest.raises(SketchConfigError) as error:
        training.start_run(data_dir, str(tmp_path / "run"), tiny_hparams(batch_size=5))
    assert_one_line(error, "batch_size=5", "valid split", "4 sketches",
                    "lower batch_size to at most 4")
    assert not (tmp_path / "run" / "model_config.json").exists()


@pytest.mark.parametrize("make", ["file", "child_of_file"])
def test_unusable_log_root_is_a_one_line_error(data_dir, tmp_path, make):
    blocker = tmp_path / "taken"
    blocker.write_text("a file")
    log_root = blocker if make == "file" else blocker / "run"
    with pytest.raises(SketchConfigError) as error:
        training.start_run(data_dir, str(log_root), tiny_hparams())
    assert_one_line(error, "--log_root", str(log_root))


def test_nan_message_names_only_what_exists(data_dir, tmp_path):
    trainer = training.start_run(data_dir, str(tmp_path / "run"), tiny_hparams(),
                                 verbose=False)
    with pytest.raises(training.TrainingDivergedError) as error:
        trainer._check_finite(float("nan"))
    assert_one_line(error, "nothing was saved yet", "start again")
    assert "model.weights.h5" not in str(error.value) and "resume" not in str(error.value)
    trainer.save_state()
    with pytest.raises(training.TrainingDivergedError) as error:
        trainer._check_finite(float("inf"))
    assert_one_line(error, "the resume state", "is intact", "--resume_training")
    assert "model.weights.h5" not in str(error.value)


# ---------------------------------------------------------------------- train.py


def run_train_py(*args, timeout=600):
    return subprocess.run([sys.executable, TRAIN_PY, *args], capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.slow
def test_train_py_help_and_one_line_errors(data_dir, saved_run, tmp_path):
    shown = run_train_py("--help")
    assert shown.returncode == 0, shown.stderr[-2000:]
    for flag in ("--overwrite", "--resume_training", "--batch_size", "batch_size >= 1"):
        assert flag in shown.stdout
    log_root = tmp_path / "never_created"
    cases = [
        (["--batch_size=0", f"--log_root={log_root}", "--data_dir=/nonexistent"],
         "error: hparam batch_size=0 is out of range; allowed: batch_size >= 1"),
        ([f"--log_root={saved_run}", f"--data_dir={data_dir}",
          "--hparams=categories=[circle,house],enc_rnn_size=8,dec_rnn_size=16,"
          "dec_model=lstm,z_size=4,batch_size=4"],
         "already holds a training run"),
        ([f"--log_root={TRAIN_PY}", f"--data_dir={data_dir}"], "is a file, not a folder"),
    ]
    for args, message in cases:
        finished = run_train_py(*args)
        errors = [line for line in finished.stderr.splitlines() if line.startswith("error: ")]
        assert finished.returncode == 1 and len(errors) == 1, finished.stderr[-2000:]
        assert message in errors[0] and "Traceback" not in finished.stderr
    assert not log_root.exists()


# ---------------------------------------------------------------------- kill -9


def train_command(log_root, data_dir, resume):
    return [sys.executable, TRAIN_PY, f"--log_root={log_root}", f"--data_dir={data_dir}",
            f"--resume_training={resume}", "--save_state_steps=1", f"--num_steps={STEPS}",
            "--hparams=categories=[circle,house],enc_rnn_size=8,dec_rnn_size=16,"
            "dec_model=lstm,z_size=4,batch_size=4"]


def saved_count(log_root):
    try:
        return state_record(log_root)["count"]
    except (OSError, ValueError):
        return -1


def partial_saves(log_root):
    state_dir = os.path.join(log_root, "state")
    try:
        return [name for name in os.listdir(state_dir) if name.endswith(".partial")]
    except OSError:
        return []


def kill_when(process, ready, delay=0.0, poll_every=0.01):
    """SIGKILLs `process` once `ready()` holds (after `delay` s); False if it ended first.

    `ready` polls files the run writes (no hook in the library): the kill lands wherever the
    run is at that moment."""
    while process.poll() is None:
        if ready():
            time.sleep(delay)
            process.send_signal(signal.SIGKILL)
            process.wait()
            return True
        time.sleep(poll_every)
    return False


def final_outputs(log_root):
    with h5py.File(os.path.join(log_root, "model.weights.h5"), "r") as handle:
        weights = {}
        handle.visititems(lambda name, item: weights.__setitem__(name, item[()])
                          if isinstance(item, h5py.Dataset) else None)
    with np.load(os.path.join(log_root, "para.npz")) as para:
        para = dict(para)
    record = state_record(log_root)
    reader = tf.train.load_checkpoint(os.path.join(log_root, "state", record.pop("checkpoint")))
    state = {key: reader.get_tensor(key) for key in reader.get_variable_to_shape_map()}
    return weights, para, record, state


def assert_same(expected, actual, what):
    assert sorted(expected) == sorted(actual), what
    for key in expected:
        assert np.array_equal(expected[key], actual[key]), f"{what}: {key}"


def run_killed_attempts(log_root, data_dir, rng):
    """Runs train.py in `log_root` and kills it -9 five times (one kill inside a state save),
    resuming after each kill; returns whether the save kill left a partial checkpoint."""
    targets = sorted(rng.sample(range(3, STEPS - 2), 3))
    kills = [("before the first save", lambda: (log_root / "model_config.json").exists(), 0.5)]
    kills.append(("during a state save", lambda: bool(partial_saves(log_root)), 0.0))
    kills += [(f"after step {target}", target, rng.uniform(0.0, 0.3)) for target in targets]
    killed_during_save = False
    for attempt, (moment, ready, delay) in enumerate(kills):
        if isinstance(ready, int):
            # Not before this attempt has saved a step of its own.
            target = max(ready, saved_count(log_root) + 1)
            ready = lambda target=target: saved_count(log_root) >= target  # noqa: E731
        process = subprocess.Popen(train_command(log_root, data_dir, attempt > 0),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        poll_every = 0.0005 if moment == "during a state save" else 0.01
        assert kill_when(process, ready, delay, poll_every), (
            f"the run ended before the kill {moment}")
        assert process.returncode == -signal.SIGKILL, f"the run ended before the kill {moment}"
        if moment == "during a state save":
            killed_during_save = bool(partial_saves(log_root))
    return killed_during_save


@pytest.mark.slow
def test_kill_9_at_random_moments_then_resume_ends_identical(data_dir, tmp_path):
    reference = tmp_path / "uninterrupted"
    with open(tmp_path / "uninterrupted.out", "w") as out, \
            open(tmp_path / "uninterrupted.err", "w") as err:
        uninterrupted = subprocess.Popen(train_command(reference, data_dir, False), stdout=out,
                                         stderr=err)
        try:
            log_root = tmp_path / "killed"
            killed_during_save = run_killed_attempts(log_root, data_dir, random.Random(10))
            resumed = subprocess.run(train_command(log_root, data_dir, True),
                                     capture_output=True, text=True, timeout=900)
            uninterrupted.wait(timeout=900)
        finally:
            if uninterrupted.poll() is None:
                uninterrupted.kill()
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert killed_during_save, "the kill missed the state save"
    assert uninterrupted.returncode == 0, (tmp_path / "uninterrupted.err").read_text()[-3000:]

    done_line = (tmp_path / "uninterrupted.out").read_text().splitlines()[-2]
    assert done_line.startswith("Done: ") and resumed.stdout.splitlines()[-2] == done_line
    expected, actual = final_outputs(reference), final_outputs(log_root)
    assert_same(expected[0], actual[0], "model.weights.h5")
    assert_same(expected[1], actual[1], "para.npz")
    assert expected[2] == actual[2]
    assert_same(expected[3], actual[3], "state checkpoint")
    assert not [name for name in os.listdir(log_root / "state") if run_state.is_temporary(name)]
