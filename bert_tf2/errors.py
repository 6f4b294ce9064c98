"""The exception types of `bert_tf2` (one per concern, all subclasses of `BertError`).

`BertError` is a `sketch_common.errors.UserError`: `sketch_common.errors.run_tool` prints it as a
one-line message for command-line tools.
"""

from sketch_common.errors import UserError


class BertError(UserError):
    """Base class of every error this package raises on purpose."""


class BertConfigError(BertError, ValueError):
    """A YAML configuration with missing, unsupported or inconsistent keys."""


class BertDataError(BertError, ValueError):
    """Bad or missing sketch data; the message names the file, the sketch index and the fix."""


class BertCheckpointError(BertError, ValueError):
    """A checkpoint that cannot be read, converted or matched to the model."""
