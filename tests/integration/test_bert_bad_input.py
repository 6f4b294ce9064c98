"""Bad input to the Sketch-BERT tools: each case is a one-line error naming what to fix.

Configs (unknown keys, ranges, YAML syntax, forbidden tags), data that does not fit the heads or
the memmaps, `test` without restored weights, and torn, damaged or half-written checkpoint
folders. Most cases run in-process; one subprocess proves the CLI prints a single `error:` line.
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest
import yaml

from flags import bert_main as cli
from bert_tf2 import checkpoint as checkpoint_lib
from bert_tf2 import config as config_lib
from bert_tf2 import training
from bert_tf2.data import memmap_format
from bert_tf2.errors import BertCheckpointError, BertConfigError, BertDataError, BertError
from bert_tf2.model import build_model
from bert_tf2 import optimizer_state
from flags import bert_export
from helpers.bert_data import tiny_config, write_memmaps

DEFAULT_CONFIG = pathlib.Path(config_lib.__file__).parent / "configs" / "sketch_transformer.yml"
TINY = dict(layers_setting=[[2, 16, 32]], embed_layers_setting=[8, 16], rec_layers_setting=[16],
            max_length=24)


def _assert_one_line(error, *needles):
    message = str(error)
    assert "\n" not in message, message
    for needle in needles:
        assert needle in message, (needle, message)


def _yaml_with(tmp_path, **changes):
    values = yaml.safe_load(DEFAULT_CONFIG.read_text())
    values.update(changes)
    path = tmp_path / "bad.yml"
    path.write_text(yaml.safe_dump(values))
    return str(path)


# (case id, changes written into the YAML file, expected message parts)
FILE_CASES = [
    ("typo", {"learning_rte": 0.5}, ["learning_rte", "did you mean learning_rate?"]),
    ("typo_far", {"zzz_unknown": 1}, ["zzz_unknown", "unknown config key"]),
    ("negative_epochs", {"num_epoch": -1}, ["num_epoch = -1", "integer >= 1"]),
    ("zero_batch", {"batch_size": 0}, ["batch_size = 0", ">= 1"]),
    ("float_batch", {"batch_size": 4.5}, ["batch_size = 4.5", "integer"]),
    ("zero_lr", {"learning_rate": 0.0}, ["learning_rate = 0.0", "> 0"]),
    ("mask_prob", {"mask_prob": 1.5}, ["mask_prob = 1.5", "(0, 1]"]),
    ("zero_mask_prob", {"mask_prob": 0}, ["mask_prob = 0", "(0, 1]"]),
    ("dropout_one", {"hidden_dropout_prob": 1.0}, ["hidden_dropout_prob", "[0, 1)"]),
    ("negative_weight", {"triplet_weight": -1}, ["triplet_weight = -1", ">= 0"]),
    ("zero_cls_dim", {"cls_dim": 0}, ["cls_dim = 0"]),
    ("heads_divide", {"layers_setting": [[3, 16, 32]]}, ["layers_setting", "multiple of heads"]),
    ("empty_layers", {"layers_setting": []}, ["layers_setting"]),
    ("max_size", {"max_size": [128]}, ["max_size", "list of 2"]),
    ("unknown_task", {"task_types": ["maskgmm"]}, ["task_types", "maskrec"]),
    ("bad_choice", {"get_type": "pairs"}, ["get_type = 'pairs'", "triplet"]),
    ("negative_seed", {"seed": -1}, ["seed = -1"]),
    ("zero_every", {"checkpoint_every": 0}, ["checkpoint_every = 0"]),
    ("nan_limit", {"limit": float("nan")}, ["limit = nan"]),
    ("bool_size", {"max_cls_cache": True}, ["max_cls_cache = True", "integer"]),
]


@pytest.mark.parametrize("case, changes, needles", FILE_CASES, ids=[c[0] for c in FILE_CASES])
def test_bad_yaml_values_are_one_line_config_errors(tmp_path, case, changes, needles):
    path = _yaml_with(tmp_path, **changes)
    with pytest.raises(BertConfigError) as caught:
        config_lib.load_config(path)
    _assert_one_line(caught.value, path, *needles)


# (case id, override arguments, expected message parts)
OVERRIDE_CASES = [
    ("typo", ["--learning_rte=3"], ["--learning_rte", "did you mean learning_rate?"]),
    ("range", ["--num_epoch=-1"], ["--num_epoch", "num_epoch = -1", ">= 1"]),
    ("string_number", ["--learning_rate=1e-4"], ["--learning_rate", "1.0e-4"]),
    ("bad_yaml", ["--batch_size=[1"], ["--batch_size", "not valid YAML"]),
    ("not_key_value", ["batch_size=4"], ["--key=value"]),
]


@pytest.mark.parametrize("case, args, needles", OVERRIDE_CASES, ids=[c[0] for c in OVERRIDE_CASES])
def test_bad_overrides_are_one_line_config_errors(case, args, needles):
    with pytest.raises(BertConfigError) as caught:
        config_lib.load_config(str(DEFAULT_CONFIG), args)
    _assert_one_line(caught.value, *needles)


# (case id, file text, expected message parts)
TEXT_CASES = [
    ("syntax", "batch_size: [1, 2\nnum_epoch: 3\n", ["not valid YAML", "line"]),
    ("not_mapping", "- 1\n- 2\n", ["mapping"]),
    ("tab_indent", "a:\n\tb: 1\n", ["not valid YAML"]),
    ("string_lr", "learning_rate: 1e-4\n", ["learning_rate = '1e-4'", "0.0001"]),
    ("absolute_include", "log_dir: !include /etc/hostname\n", ["!include", "relative"]),
    ("escaping_include", "log_dir: !include ../outside.txt\n", ["!include", "leaves"]),
    ("self_include", "log_dir: !include bad.yml\n", ["includes itself"]),
    ("missing_include", "log_dir: !include nope.txt\n", ["nope.txt", "cannot read"]),
]


@pytest.mark.parametrize("case, text, needles", TEXT_CASES, ids=[c[0] for c in TEXT_CASES])
def test_bad_yaml_text_is_a_one_line_config_error(tmp_path, case, text, needles):
    (tmp_path / "outside.txt").write_text("x")
    folder = tmp_path / "configs"
    folder.mkdir()
    path = folder / "bad.yml"
    path.write_text(text)
    with pytest.raises(BertConfigError) as caught:
        config_lib.load_config(str(path))
    _assert_one_line(caught.value, str(path), *needles)


def test_missing_config_file(tmp_path):
    with pytest.raises(BertConfigError) as caught:
        config_lib.load_config(str(tmp_path / "missing.yml"))
    _assert_one_line(caught.value, "missing.yml", "cannot read")


def test_ignored_original_keys_are_accepted(bert_bundle):
    for path in [bert_bundle / "config.yml", bert_bundle / "config_pretrain.yml",
                 *sorted(DEFAULT_CONFIG.parent.glob("*.yml"))]:
        config = config_lib.load_config(str(path))
        for key in config_lib.UNUSED_KEYS:
            assert key in config, (path, key)


# ----------------------------------------------------------------------- malicious YAML

MALICIOUS_TAGS = [
    "!!python/object/apply:os.system",
    "!!python/object/apply:subprocess.call",
    "!!python/object/new:os.system",
]


def _malicious_text(tag, marker):
    if tag.endswith("subprocess.call"):
        return f"trainer: {tag} [[touch, '{marker}']]\n"
    return f"trainer: {tag} ['touch {marker}']\n"


def _tiny_checkpoint(directory):
    config = config_lib.load_config(str(DEFAULT_CONFIG), TINY)
    checkpoint_lib.save_checkpoint(str(directory), build_model(config), config)
    return directory


def _rehash(directory):
    """Rewrites checkpoint.json's file records, as someone forging a checkpoint would."""
    path = directory / checkpoint_lib.METADATA_FILE
    record = json.loads(path.read_text())
    record["files"] = {name: checkpoint_lib._file_record(str(directory / name))
                       for name in record["files"]}
    path.write_text(json.dumps(record))


@pytest.fixture(scope="module")
def checkpoint_template(tmp_path_factory):
    return _tiny_checkpoint(tmp_path_factory.mktemp("template") / "ckpt")


@pytest.mark.parametrize("tag", MALICIOUS_TAGS)
@pytest.mark.parametrize("reader", ["load_config", "load_checkpoint", "export"])
def test_malicious_yaml_runs_nothing(tmp_path, checkpoint_template, tag, reader):
    marker = tmp_path / "marker"
    directory = tmp_path / "ckpt"
    shutil.copytree(checkpoint_template, directory)
    config_path = directory / checkpoint_lib.CONFIG_FILE
    config_path.write_text(_malicious_text(tag, marker) + config_path.read_text()
                           .replace("trainer: sketch_transformer\n", ""))
    _rehash(directory)
    with pytest.raises(BertError) as caught:
        if reader == "load_config":
            config_lib.load_config(str(config_path))
        elif reader == "load_checkpoint":
            checkpoint_lib.load_checkpoint(str(directory))
        else:
            bert_export.main([str(directory), str(tmp_path / "export")])
    _assert_one_line(caught.value, str(config_path), "forbidden YAML tag", tag, "line 1")
    assert not marker.exists()
    assert not (tmp_path / "export").exists()


# ----------------------------------------------------------------------- checkpoints

def test_save_is_atomic_and_failed_save_keeps_previous(tmp_path, monkeypatch):
    directory = _tiny_checkpoint(tmp_path / "run" / "latest")
    before = checkpoint_lib.check_checkpoint(str(directory))
    (tmp_path / "run" / ".latest.partial-stale").mkdir()
    (tmp_path / "run" / ".latest.partial-stale" / "model.weights.h5").write_bytes(b"junk")
    (tmp_path / "run" / ".latest.old").mkdir()
    config, model = checkpoint_lib.load_checkpoint(str(directory))

    def no_space(path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(model, "save_weights", no_space)
    with pytest.raises(BertCheckpointError) as caught:
        checkpoint_lib.save_checkpoint(str(directory), model, config, {"step": 2})
    _assert_one_line(caught.value, str(directory), "No space left", "unchanged")
    assert checkpoint_lib.check_checkpoint(str(directory)) == before
    assert sorted(os.listdir(tmp_path / "run")) == ["latest"]  # stale folders cleaned


def test_interrupted_swap_is_completed_on_recovery(tmp_path):
    directory = _tiny_checkpoint(tmp_path / "run" / "latest")
    ready = tmp_path / "run" / ".latest.ready"
    directory.rename(ready)  # killed between moving the old folder aside and the final rename
    with pytest.raises(BertCheckpointError, match="interrupted"):
        checkpoint_lib.check_checkpoint(str(directory))
    assert checkpoint_lib.recover_checkpoint(str(directory)) == [str(ready)]
    checkpoint_lib.load_checkpoint(str(directory))


def _torn(directory, source):
    shutil.copy(source / checkpoint_lib.WEIGHTS_FILE, directory / checkpoint_lib.WEIGHTS_FILE)


def _truncated(directory, _):
    path = directory / checkpoint_lib.WEIGHTS_FILE
    path.write_bytes(path.read_bytes()[:2000])
    _rehash(directory)


def _garbage(directory, _):
    (directory / checkpoint_lib.WEIGHTS_FILE).write_bytes(b"not hdf5 at all" * 10)
    _rehash(directory)


def _empty_metadata(directory, _):
    (directory / checkpoint_lib.METADATA_FILE).write_text("")


def _missing_config(directory, _):
    (directory / checkpoint_lib.CONFIG_FILE).unlink()


def _bad_yaml(directory, _):
    (directory / checkpoint_lib.CONFIG_FILE).write_text("batch_size: [1\n")
    _rehash(directory)


def _garbage_optimizer(directory, _):
    (directory / optimizer_state.OPTIMIZER_FILE).write_bytes(b"PK\x03\x04garbage")
    _rehash(directory)


# (case id, damage, file named in the message, expected message part)
DAMAGE_CASES = [
    ("torn", _torn, checkpoint_lib.WEIGHTS_FILE, "does not match"),
    ("truncated_weights", _truncated, checkpoint_lib.WEIGHTS_FILE, "cannot be read"),
    ("garbage_weights", _garbage, checkpoint_lib.WEIGHTS_FILE, "not an HDF5"),
    ("empty_metadata", _empty_metadata, checkpoint_lib.METADATA_FILE, "not JSON"),
    ("missing_config", _missing_config, checkpoint_lib.CONFIG_FILE, "not found"),
    ("bad_yaml", _bad_yaml, checkpoint_lib.CONFIG_FILE, "not valid YAML"),
    ("garbage_optimizer", _garbage_optimizer, optimizer_state.OPTIMIZER_FILE, "cannot be read"),
]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A 6-iteration run (latest/, best/, iter_4/) of the tiny trainer config."""
    root = tmp_path_factory.mktemp("bad_input_run")
    write_memmaps(root)
    path = tiny_config(root, "run", num_epoch=1, checkpoint_every=3)
    training.Trainer(config_lib.load_config(path)).train()
    return root, path, root / "logs" / "sketch_transformer" / "run"


@pytest.mark.parametrize("case, damage, file_name, needle", DAMAGE_CASES,
                         ids=[c[0] for c in DAMAGE_CASES])
def test_damaged_checkpoint_names_the_file(tmp_path, trained_run, case, damage, file_name,
                                           needle):
    _, path, run = trained_run
    directory = tmp_path / "latest"
    shutil.copytree(run / "latest", directory)
    damage(directory, run / "iter_4")
    with pytest.raises(BertCheckpointError) as caught:
        training.Trainer(config_lib.load_config(path, {
            "load_pretrained": "continue", "restore_checkpoint_path": str(directory),
            "which_pretrained": ["enc_net", "task_net", "enc_opt", "task_opt"]}))
    _assert_one_line(caught.value, str(directory / file_name), needle)


def test_continue_recovers_a_killed_save(tmp_path, trained_run):
    _, path, run = trained_run
    shutil.copytree(run / "latest", tmp_path / ".latest.ready")
    (tmp_path / ".latest.partial-x1").mkdir()
    trainer = training.Trainer(config_lib.load_config(path, {
        "load_pretrained": "continue", "restore_checkpoint_path": str(tmp_path / "latest"),
        "which_pretrained": ["enc_net", "task_net", "enc_opt", "task_opt"]}))
    assert trainer.iteration == 6
    assert sorted(os.listdir(tmp_path)) == ["latest"]


# ----------------------------------------------------------------------- data vs heads

def _shifted_offsets(change):
    original = memmap_format.read_offsets

    def read(path):
        offsets = original(path)
        first = sorted(offsets["train"])[0]
        ranges = [tuple(pair) for pair in offsets["train"][first]]
        ranges[1] = change(ranges[1])
        offsets["train"][first] = ranges
        return offsets

    return read


# (case id, config changes, offsets change or None, error type, expected message parts)
DATA_CASES = [
    ("cls_dim_below_classes", {"task_types": ["sketchclsinput"], "cls_dim": 2}, None,
     BertConfigError, ["cls_dim = 2", "3 classes", "--cls_dim=3"]),
    ("input_dim", {"input_dim": 3}, None, BertConfigError, ["input_dim = 3", "stroke-5"]),
    ("start_after_end", {}, lambda pair: (pair[1], pair[0]), BertDataError,
     ["offsets.npz", "start > end", "sketch 1"]),
    ("past_the_file", {}, lambda pair: (pair[0], 10 ** 6), BertDataError,
     ["offsets.npz", "sketch 1", "ends at row 1000000"]),
]


@pytest.mark.parametrize("case, changes, offsets, error, needles", DATA_CASES,
                         ids=[c[0] for c in DATA_CASES])
def test_data_mismatch_fails_before_training(trained_run, monkeypatch, case, changes, offsets,
                                             error, needles):
    root, _, _ = trained_run
    if offsets is not None:
        monkeypatch.setattr(memmap_format, "read_offsets", _shifted_offsets(offsets))
    path = tiny_config(root, f"data_{case}", **changes)
    with pytest.raises(error) as caught:
        training.Trainer(config_lib.load_config(path)).train()
    _assert_one_line(caught.value, *needles)
    assert not (root / "logs" / "sketch_transformer" / f"data_{case}" / "latest").exists()


# ----------------------------------------------------------------------- `test` mode

def test_test_refuses_random_weights(trained_run, capsys):
    _, path, run = trained_run
    assert cli.main(["test", path]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: test:") and "random weights" in err[0]
    assert "--allow_random_weights" in err[0]
    assert cli.main(["test", str(run / "best"), "--which_pretrained=[enc_net]"]) == 1
    assert "task_net" in capsys.readouterr().err
    assert cli.main(["test", path, "--allow_random_weights"]) == 0
    assert "total=" in capsys.readouterr().out


def test_test_accepts_a_checkpoint_directory(trained_run, tmp_path, capsys):
    _, path, run = trained_run
    metrics_path = tmp_path / "metrics.json"
    assert cli.main(["test", str(run / "best"), f"--metrics_json={metrics_path}"]) == 0
    from_directory = json.loads(metrics_path.read_text())["val"]
    assert cli.main(["test", path, "--load_pretrained=pretrained",
                     "--which_pretrained=[enc_net, task_net]",
                     f"--restore_checkpoint_path={run / 'best'}",
                     f"--metrics_json={metrics_path}"]) == 0
    assert json.loads(metrics_path.read_text())["val"] == from_directory
    assert cli.main(["test", str(tmp_path)]) == 1
    assert "without config.yml" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"], ["test", "-h"],
                                  ["train", "x.yml", "--help"]])
def test_help_prints_usage(argv, capsys):
    assert cli.main(argv) == 0
    assert capsys.readouterr().out.startswith("usage: python -m bert_tf2")


def test_cli_prints_one_error_line(tmp_path):
    path = _yaml_with(tmp_path, learning_rte=0.5)
    result = subprocess.run([sys.executable, "-m", "bert_tf2", "train", path],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {path}: unknown config key 'learning_rte'; did you mean "
                      "learning_rate?"]
    assert "Traceback" not in result.stderr
