"""Fault injection: `python -m bert_tf2 train` killed with SIGKILL at seeded moments, some of them
during a checkpoint save, and resumed with `load_pretrained: continue` each time, ends with the
same weights, optimizer state and iteration as the uninterrupted run.

The runs share an XLA persistent compilation cache (`TF_XLA_FLAGS`), so only the first one pays
for compiling the train and eval steps."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from bert_tf2 import checkpoint as checkpoint_lib
from bert_tf2 import config as config_lib
from bert_tf2 import training
from bert_tf2.state_dicts import export_state_dicts
from bert_tf2 import optimizer_state
from helpers.bert_data import tiny_config, write_memmaps

ITERATIONS = 12  # 2 epochs of 48 sketches, batch 8
CONTINUE = ["--load_pretrained=continue",
            "--which_pretrained=[enc_net, task_net, enc_opt, task_opt]"]
POLL_SECONDS = 0.0005
RUN_TIMEOUT = 240


def _hidden_folders(run):
    return [name for name in os.listdir(run) if name.startswith(".")] if run.is_dir() else []


def _saved_iteration(run):
    try:
        with open(run / "latest" / checkpoint_lib.METADATA_FILE, encoding="utf-8") as handle:
            return json.load(handle)["counters"]["t"]
    except (OSError, ValueError, KeyError):
        return 0


def _launch(path, run, xla_cache):
    env = dict(os.environ)
    env["TF_XLA_FLAGS"] = (f"{env.get('TF_XLA_FLAGS', '')} "
                           f"--tf_xla_persistent_cache_directory={xla_cache}").strip()
    resume = (run / "latest").is_dir() or (run / ".latest.ready").is_dir()
    args = CONTINUE + [f"--restore_checkpoint_path={run / 'latest'}"] if resume else []
    return subprocess.Popen([sys.executable, "-m", "bert_tf2", "train", path, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=env)


def _kill_when(process, ready):
    """SIGKILLs `process` as soon as `ready()` holds; False when it exited first."""
    deadline = time.time() + RUN_TIMEOUT
    while not ready():
        if process.poll() is not None or time.time() > deadline:
            process.kill()
            process.wait()
            return False
        time.sleep(POLL_SECONDS)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return True


def _final_state(run):
    config, model = checkpoint_lib.load_checkpoint(str(run / "latest"))
    weights = {f"{state}/{key}": value for state, table in export_state_dicts(model).items()
               for key, value in table.items()}
    with np.load(run / "latest" / optimizer_state.OPTIMIZER_FILE) as saved:
        optimizer = {key: saved[key] for key in saved.files}
    return _saved_iteration(run), weights, optimizer


@pytest.mark.slow
def test_killed_training_resumes_to_the_uninterrupted_result(tmp_path):
    write_memmaps(tmp_path)
    changes = dict(checkpoint_every=1, save_model_every=1000, print_every=1000,
                   max_val_batches=1, num_display_samples=0)
    reference_path = tiny_config(tmp_path, "reference", **changes)
    training.Trainer(config_lib.load_config(reference_path)).train()
    path = tiny_config(tmp_path, "killed", **changes)
    run = tmp_path / "logs" / "sketch_transformer" / "killed"

    rng = np.random.default_rng(10)
    after = sorted(rng.choice(np.arange(2, ITERATIONS - 1), size=3, replace=False).tolist())
    plan = [("after", after[0]), ("save", None), ("after", after[1]), ("save", None),
            ("after", after[2])]
    stale_seen = False
    for kind, target in plan:
        process = _launch(path, run, tmp_path / "xla_cache")
        if kind == "save":
            killed = _kill_when(process, lambda: any(
                ".partial-" in name for name in _hidden_folders(run)))
            stale_seen |= killed and bool(_hidden_folders(run))
        else:
            killed = _kill_when(process, lambda: _saved_iteration(run) >= target)
        assert killed, f"the run ended before the planned kill ({kind} {target})"

    process = _launch(path, run, tmp_path / "xla_cache")
    output, _ = process.communicate(timeout=RUN_TIMEOUT)
    assert process.returncode == 0
    assert "\r" not in output and "\x1b" not in output  # plain progress in a pipe
    assert stale_seen, "no kill landed inside a checkpoint save"
    assert _hidden_folders(run) == []

    expected = _final_state(tmp_path / "logs" / "sketch_transformer" / "reference")
    actual = _final_state(run)
    assert actual[0] == expected[0] == ITERATIONS
    for key, value in expected[1].items():
        np.testing.assert_array_equal(actual[1][key], value, err_msg=key)
    for key, value in expected[2].items():
        np.testing.assert_array_equal(actual[2][key], value, err_msg=key)
