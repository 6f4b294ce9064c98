"""The exception types of `sketchgloc_tf2` (one per concern, all subclasses of `SketchError`).

`run_tool` turns such errors into a one-line message and an exit status for command-line tools.
"""

import sys


class SketchError(Exception):
    """Base class of every error this package raises on purpose."""


class SketchDataError(SketchError, ValueError):
    """Bad or missing sketch data; the message names the file, the sketch index and the fix."""


class SketchConfigError(SketchError, ValueError):
    """Bad hyper-parameters, flags or `model_config.json`."""


class SketchCheckpointError(SketchError, ValueError):
    """A checkpoint that cannot be read, converted or matched to the model."""


def run_tool(main, handled=(SketchError,), exit_code=1):
    """Runs a command-line tool's `main()` and exits with its return value.

    An exception of a `handled` type is printed as `error: <message>` on stderr, without a
    traceback, and exits with `exit_code`.

    Args:
        main: callable returning the exit status.
        handled: exception type or tuple of types that are the user's to fix.
        exit_code: exit status for those errors.
    """
    try:
        status = main()
    except handled as error:
        print(f"error: {error}", file=sys.stderr)
        status = exit_code
    sys.exit(status)
