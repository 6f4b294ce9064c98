"""The Sketch-BERT command lines (`flags/bert_*.py`): help texts, help without TensorFlow, and
a user's own `flags.py` in the working directory."""

import importlib
import os
import subprocess
import sys

import pytest

from helpers.paths import REPO_ROOT

ROOT = str(REPO_ROOT)
TOOLS = {
    "flags.bert_main": ["train|test", "--metrics_json", "--allow_random_weights", "--strategy",
                        "attention_dropout_prob", "DROP rate", "accepted but ignored",
                        "num_positions"],
    "flags.bert_export": ["CHECKPOINT_DIR", "EXPORT_BASE", "--version"],
    "flags.bert_convert": ["--torch_checkpoint", "--config", "--output",
                           "--keep_token_row_typo"],
    "flags.bert_memmap": ["--npz_list", "--data_dir", "--categories", "--output_dir",
                          "--check_leaks", "--reproduce_split_leak"],
    "flags.bert_parity": ["BUNDLE_DIR", "--only", "--rtol", "--atol"],
    "flags.bert_tune": ["--tuning_dir", "--max_trials", "--trial_iterations"],
}


def _environment():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([ROOT, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


@pytest.mark.parametrize("module_name", sorted(TOOLS))
def test_help_exits_0_and_describes_the_flags(module_name, capsys):
    assert importlib.import_module(module_name).main(["--help"]) == 0
    out = capsys.readouterr().out
    for text in TOOLS[module_name]:
        assert text in out, (module_name, text)


@pytest.mark.parametrize("argv", [["train", "--help"], ["test", "CONFIG.yml", "-h"]])
def test_mode_help_lists_the_config_keys(argv, capsys):
    from flags import bert_main

    assert bert_main.main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: python -m bert_tf2")
    assert "--num_mixture" not in out and "--max_length" in out and "--M  " in out


def test_help_of_the_argparse_tools_imports_no_tensorflow():
    code = ("import sys\n"
            "from flags import bert_convert, bert_export, bert_main, bert_memmap, bert_parity\n"
            "for tool in (bert_convert, bert_export, bert_main, bert_memmap, bert_parity):\n"
            "    assert tool.main(['--help']) == 0\n"
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'\n")
    result = subprocess.run([sys.executable, "-c", code], env=_environment(), cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_python_m_bert_tf2_help_exits_0():
    result = subprocess.run([sys.executable, "-m", "bert_tf2", "--help"], env=_environment(),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: python -m bert_tf2")


def test_a_users_flags_py_does_not_break_the_export_command(tmp_path):
    (tmp_path / "flags.py").write_text("raise RuntimeError('the user flags.py was imported')\n")
    result = subprocess.run([sys.executable, "-m", "bert_tf2.export", "--help"],
                            env=_environment(), cwd=tmp_path, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert "EXPORT_BASE" in result.stdout and "--version" in result.stdout
