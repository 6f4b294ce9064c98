"""Helpers of the export tests: processes that cannot import the project, `saved_model_cli`."""

import os
import re
import subprocess
import sys

import numpy as np


def clean_env():
    """Environment of a process that cannot see the repository through PYTHONPATH."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    return env


def saved_model_cli(*args, cwd):
    """Starts TensorFlow's `saved_model_cli` with `args` in a clean environment (a Popen)."""
    return subprocess.Popen(
        [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli", *args], cwd=cwd,
        env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def printed_output(stdout, key):
    """The numbers `saved_model_cli run` printed for output `key`, flat."""
    printed = stdout.split(f"Result for output key {key}:")[1].split("Result")[0]
    return np.array([float(x) for x in re.findall(r"[-+]?[\d.]+(?:e[-+]?\d+)?", printed)])
