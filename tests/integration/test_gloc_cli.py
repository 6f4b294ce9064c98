"""The SketchGloc command-line layer: every tool answers --help with exit 0 and lists its flags,
a user's `flags.py` in the working directory does not hide the project's `flags` package, and
importing the pictures module leaves the matplotlib backend alone."""

import os
import subprocess
import sys

import pytest
from absl import flags

from flags import (
    common,
    gloc_convert,
    gloc_export,
    gloc_ndjson,
    gloc_parity,
    gloc_pictures,
    gloc_recognition,
    gloc_retrieval,
    gloc_sample,
    gloc_synthetic,
    gloc_train,
    gloc_tune,
)
from helpers.paths import REPO_ROOT

ROOT = str(REPO_ROOT)

# tool module -> (argv of main, flags its help must list)
HELP_CASES = {
    "train": (gloc_train, ["train.py", "--help"],
              ["--log_root", "--resume_training", "--overwrite", "--hparams",
               "--recurrent_dropout_prob", "KEEP probability", "IGNORED", "batch_size >= 1"]),
    "sample": (gloc_sample, ["sample_abs.py", "--help"],
               ["SAMPLE_SIZE", "--sample_size", "--checkpoint_dir", "--temperature", "--greedy"]),
    "retrieval": (gloc_retrieval, ["retrieval.py", "-h"],
                  ["Top 1 Ret", "--data_dir", "--retrieval_offbyone"]),
    "export": (gloc_export, ["--help"], ["EXPORT_BASE", "--version", "--encode_block",
                                         "--jit_compile"]),
    "convert": (gloc_convert, ["--help"], ["--tf1_checkpoint", "--config", "--output",
                                           "--overwrite"]),
    "ndjson": (gloc_ndjson, ["--help"], ["--output_dir", "--valid_fraction", "--seed"]),
    "synthetic": (gloc_synthetic, ["-h"], ["output_dir", "--per_category"]),
    "pictures": (gloc_pictures, ["--help"], ["grid", "interpolate", "curves", "samples"]),
    "pictures grid": (gloc_pictures, ["grid", "--help"], ["--data_dir", "--re_scale",
                                                          "--stochastic"]),
    "recognition": (gloc_recognition, ["--help"], ["train", "eval"]),
    "recognition train": (gloc_recognition, ["train", "--help"], ["--image_size", "--epochs"]),
    "parity": (gloc_parity, ["--help"], ["--only", "--rtol", "--atol"]),
}


@pytest.mark.parametrize("name", sorted(HELP_CASES))
def test_help_exits_0_listing_the_flags(name, capsys):
    module, argv, expected = HELP_CASES[name]
    assert module.main(argv) == 0
    shown = capsys.readouterr().out
    for text in expected:
        assert text in shown, (name, text)


def test_tune_help_exits_0_listing_the_flags(capsys):
    flag_values = flags.FlagValues()
    gloc_tune.define_flags(flag_values)
    with pytest.raises(SystemExit) as exit_request:
        common.run_app(gloc_tune.main, gloc_tune.__doc__, flag_values,
                       argv=["tune", "--help"])
    assert exit_request.value.code == 0
    shown = capsys.readouterr().out
    for text in ("--tuning_dir", "--max_trials", "--z_size_choices", "--batch_size"):
        assert text in shown


def _run(args, cwd=ROOT):
    environment = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                          env=environment, timeout=300)


def test_train_py_help_subprocess():
    shown = _run([os.path.join(ROOT, "train.py"), "--help"])
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert "--log_root" in shown.stdout and "--num_mixture" in shown.stdout


def test_export_help_with_a_users_flags_py_in_the_working_directory(tmp_path):
    (tmp_path / "flags.py").write_text("raise ImportError('the user flags.py was imported')\n")
    shown = _run(["-m", "sketchgloc_tf2.export", "--help"], cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert "EXPORT_BASE" in shown.stdout and "--encode_block" in shown.stdout


def test_importing_pictures_keeps_the_matplotlib_backend():
    code = ("import matplotlib; import sketchgloc_tf2.pictures; "
            "print(matplotlib.get_backend())")
    environment = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3", MPLBACKEND="svg")
    shown = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                           text=True, env=environment, timeout=300)
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert shown.stdout.strip().lower() == "svg"


def test_bad_flag_exits_2_with_one_error_line(capsys):
    assert gloc_sample.main(["sample_abs.py", "--sample_size=many"]) == 2
    assert gloc_convert.main(["--output"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 2 and "--sample_size=many" in errors[0]
