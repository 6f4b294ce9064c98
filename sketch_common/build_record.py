"""`BuildRecord`: the finished steps of a multi-step job (a preset build), kept on disk so a killed
job resumes after its last finished step."""

import json
import os

from absl import logging

from sketch_common.atomic_io import write_text
from sketch_common.errors import ConfigError


class BuildRecord:
    """Step name -> result dict, stored as JSON at `path` (rewritten atomically per step).

    Args:
        path: the record file; read when it exists.

    Raises:
        ConfigError: the file exists but is not a JSON object.
    """

    def __init__(self, path: str):
        self.path = path
        self.steps = {}
        if os.path.exists(path):
            try:
                with open(path, encoding="utf-8") as handle:
                    self.steps = json.load(handle)
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
                raise ConfigError(f"{path}: unreadable build record ({error}); delete it to "
                                  "redo the steps it recorded") from None
            if not isinstance(self.steps, dict):
                raise ConfigError(f"{path}: not a build record (expected a JSON object); "
                                  "delete it to redo the steps it recorded")

    def run(self, step: str, function) -> dict:
        """`function()`'s result for `step`: recorded if the step finished before, else computed
        and recorded."""
        if step not in self.steps:
            logging.info("%s: running step %s", self.path, step)
            self.steps[step] = function()
            write_text(self.path, json.dumps(self.steps, indent=1) + "\n")
        return self.steps[step]
