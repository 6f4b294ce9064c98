"""The exception types of `sketchgloc_tf2` (one per concern, all subclasses of `SketchError`).

`SketchError` is a `sketch_common.errors.UserError`: `sketch_common.errors.run_tool` prints it as
a one-line message for command-line tools.
"""

from sketch_common.errors import UserError


class SketchError(UserError):
    """Base class of every error this package raises on purpose."""


class SketchDataError(SketchError, ValueError):
    """Bad or missing sketch data; the message names the file, the sketch index and the fix."""


class SketchConfigError(SketchError, ValueError):
    """Bad hyper-parameters, flags or `model_config.json`."""


class SketchCheckpointError(SketchError, ValueError):
    """A checkpoint that cannot be read, converted or matched to the model."""
